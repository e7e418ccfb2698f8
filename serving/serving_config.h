#pragma once

#include <string>

#include "core/config.h"
#include "core/status.h"
#include "serving/serving_operator.h"

namespace streamrec::serving {

// Builds the serving operator's options from the configuration (keys below, defaults
// as in the Options structs) plus the `--brokers` / `--http` flags (empty: from config).
//   kafka.*                       librdkafka properties (verbatim); topics.* topic names
//   serving.http                  HOST:PORT of the HTTP API ("127.0.0.1:8080"; port 0 = any)
//   serving.http_enabled          bool (true)
//   serving.http_threads, serving.http_max_queued, serving.http_max_body_bytes
//   serving.http_bearer_token_file  a file holding the token every /v1/ route then needs
//                                 ("Authorization: Bearer <token>"); empty: no check ("")
//   serving.events_ack_timeout_ms  how long POST /v1/events waits for Kafka's
//                                 acknowledgement before answering 503 (5000)
//   serving.group_id              ("streamrec-serving")
//   serving.default_k, serving.max_k                       (20, 1000)
//   serving.channels              recall channels that run: "all" or a comma list of
//                                 cooc, two_tower, popular, fallback, renewed ("all")
//   serving.weights.two_tower, .cooc, .popular, .renewed    (1.0, 1.0, 0.3, 0.3)
//   serving.candidates.cooc_history_items, .cooc_per_item, .two_tower, .popular, .fallback,
//                                 .renewed (20)
//   serving.renewed_half_life_hours  the renewed-interest score halves per this age (72)
//                                 (20, 50, 100, 50, 200)
//   serving.candidates.cooc_recency_decay  weight of the i-th newest window item's
//                                 neighbours: decay^i (0.9)
//   serving.max_per_category, serving.max_per_brand         (5, 5; 0 = no cap) diversity
//                                 rerank: at most this many per category / brand while
//                                 other candidates remain; the list is filled back to k
//                                 with the capped items (score order) when they run out
//   serving.filter_seen, serving.require_in_catalogue       (true, false)
//                                 filter_seen: drop the items of the user's window
//   serving.seen.filter_events    event types whose items are never recommended again to
//                                 the user: a comma list of view, click, add_to_cart,
//                                 purchase, or "none" ("purchase"; a MovieLens rating
//                                 reads as a purchase, so rated films are filtered)
//   serving.seen.max_items        distinct items kept per user in that seen record, the
//                                 newest (500; 24 bytes each; 0 = no record)
//   serving.user_embedding_cache.max_entries  users whose user-tower output is cached
//                                 (100000; ~4·dim+120 bytes each; 0 = off), reused until
//                                 the user's window or the model version changes
//   operators.window.size, operators.window.horizon_s       the user stage's window
//                                 rules (operators/user_window.h): one history
//   serving.ann                   "auto" | "exact" | "hnsw" ("auto": exact below
//                                 serving.hnsw.auto_min_items = 20000 items, else HNSW);
//                                 serving.hnsw.m, .ef_construction, .ef, .build_threads;
//                                 serving.hnsw.background (true: a new version serves with
//                                 the exact scan until its graph is built after the swap)
//   serving.sanity.min_events, serving.sanity.min_accuracy  (200, 0.55) a new model version
//                                 is swapped in only when its pairwise accuracy on the
//                                 recent events (a random model: 0.5) reaches min_accuracy
//                                 once min_events were scored
//   serving.sanity.max_drop       ... and is at most this below the serving version's on
//                                 the same events (0.05; negative: no comparison)
//   serving.sanity.max_events     recent events scored (512; 0: no sanity score)
//   serving.model_component       ("two_tower")
//   serving.routing               bool (true): announce on topics.serving_members and
//                                 forward GET /v1/recommendations to the user's owner
//   serving.replica_id            this replica's id ("": its advertised address)
//   serving.advertised_http       HOST:PORT the other replicas reach it at ("": the bound
//                                 address, the host name for 0.0.0.0)
//   serving.forward_timeout_ms    bound on a forwarded request (1000); past it: answered here
//   serving.members_announce_interval_ms  announcement repeated this often (10000)
//   serving.leave_grace_ms        a clean stop keeps answering and claiming its partitions
//                                 until other replicas own them, at most this long (10000)
//   serving.members_removal_settle_ms  a revocation is announced once it held this long
//                                 (10000; a rebalance assigns after it revokes)
//   serving.windows_lookback_hours  windows rebuilt from the clicks stamped at most N
//                                 hours before the newest click of `clicks` (offsets for
//                                 times); 0: all the broker keeps (168)
//   serving.ranker.enabled        bool (false): the ranking stage reorders the blend's
//                                 serving.ranker.depth (100) best by the model's ranker
//   serving.ranker.examples_rate  with the ranker enabled, the share of live clicks that
//                                 each publish the ranker's training list on
//                                 topics.ranker_examples for the trainer (0.1; 0 = none;
//                                 in [0, 1])
Result<ServingOperatorOptions> ServingOptionsFromConfig(const Config& config,
                                                        const std::string& brokers_flag = "",
                                                        const std::string& http_flag = "");

}  // namespace streamrec::serving
