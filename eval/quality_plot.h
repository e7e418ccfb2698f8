#pragma once

#include <string>
#include <vector>

#include "core/status.h"

namespace streamrec::eval {

// Pictures of quality: the JSON reports of `streamrec bench prequential` and
// `streamrec eval` drawn as an SVG by Debian's gnuplot (package gnuplot-nox). The
// gnuplot script is written beside the SVG with its data inline, so a user can re-render
// or restyle it without streamrec. Used from the command thread only; no shared state.

// The figures of one report a chart needs.
struct QualityReport {
  std::string label;  // "blend", "cooc", "itemknn", ... (the report's model, else its file)
  int k = 10;
  // Over the whole run (prequential) or the test split (eval).
  double hit_rate = 0;
  double ndcg = 0;
  // Prequential reports only: the metrics of each window over time.
  struct Window {
    double end_event = 0;
    double hit_rate = 0;
    double ndcg = 0;
  };
  std::vector<Window> windows;
};

// Reads a report written by `bench prequential --report` (it has "windows") or by
// `eval --report` ("hit_rate@K"/"ndcg@K" keys; the largest K is taken). `fallback_label`
// names it when the report has no "model" field (e.g. the file's stem).
Result<QualityReport> ParseQualityReport(const std::string& json, const std::string& fallback_label);
Result<QualityReport> ReadQualityReport(const std::string& path);

// One chart: for prequential reports a panel of HitRate@k and one of NDCG@k over time
// (a line per report), then a panel of grouped bars with each report's overall
// HitRate@k and NDCG@k (the channel ablation when the reports are the channels alone).
// `title` heads the chart.
std::string QualityPlotScript(const std::vector<QualityReport>& reports, const std::string& title,
                              const std::string& svg_path);

// Writes QualityPlotScript() to `svg_path` with ".gp" in place of ".svg" and runs
// `gnuplot` on it. Unavailable when gnuplot is not installed (the script is still
// written, and the message says how to render it); Internal when gnuplot fails.
Status WriteQualityPlot(const std::vector<QualityReport>& reports, const std::string& title,
                        const std::string& svg_path);

// For a command that has just written `report_json`: draws it at `svg_path` and says on
// stderr (prefixed with `who`) where the plot went, or why there is none. A missing
// gnuplot is a note, not an error (the report stands; the script is written); returns an
// error only when the report does not parse or gnuplot fails.
Status PlotReport(const std::string& report_json, const std::string& label, const std::string& title,
                  const std::string& svg_path, const std::string& who);

// `path` with its ".json" extension (if any) replaced by ".svg".
std::string PlotPathFor(const std::string& report_path);

}  // namespace streamrec::eval
