#include "eval/quality_plot.h"

#include <spawn.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include <simdjson.h>

extern char** environ;

namespace streamrec::eval {
namespace {

// A gnuplot string literal: double quotes, with backslash and quote escaped. The terminal
// is `noenhanced`, so underscores in labels ("two_tower") print as they are.
std::string Quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n' || c == '\r') c = ' ';
    out += c;
  }
  return out + "\"";
}

std::string Num(double v) {
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%.6g", v);
  return buf;
}

std::string Stem(const std::string& path) {
  std::string base = path.substr(path.find_last_of('/') + 1);
  const size_t dot = base.rfind('.');
  return dot == std::string::npos || dot == 0 ? base : base.substr(0, dot);
}

}  // namespace

Result<QualityReport> ParseQualityReport(const std::string& json, const std::string& fallback_label) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(json).get(doc) != simdjson::SUCCESS) {
    return Status::InvalidArgument("not JSON");
  }
  simdjson::dom::object obj;
  if (doc.get(obj) != simdjson::SUCCESS) return Status::InvalidArgument("not a JSON object");
  QualityReport r;
  r.label = fallback_label;
  std::string_view model;
  if (obj["model"].get(model) == simdjson::SUCCESS && !model.empty()) r.label = std::string(model);

  simdjson::dom::array windows;
  if (obj["windows"].get(windows) == simdjson::SUCCESS) {
    int64_t k = 0;
    if (obj["k"].get(k) != simdjson::SUCCESS || obj["hit_rate"].get(r.hit_rate) != simdjson::SUCCESS ||
        obj["ndcg"].get(r.ndcg) != simdjson::SUCCESS) {
      return Status::InvalidArgument("prequential report without k, hit_rate or ndcg");
    }
    r.k = static_cast<int>(k);
    for (simdjson::dom::element e : windows) {
      QualityReport::Window w;
      int64_t end = 0;
      if (e["end_event"].get(end) != simdjson::SUCCESS || e["hit_rate"].get(w.hit_rate) != simdjson::SUCCESS ||
          e["ndcg"].get(w.ndcg) != simdjson::SUCCESS) {
        return Status::InvalidArgument("a window without end_event, hit_rate or ndcg");
      }
      w.end_event = static_cast<double>(end);
      r.windows.push_back(w);
    }
    return r;
  }
  // An eval report: "hit_rate@K" and "ndcg@K" for a few K; draw the largest.
  int best_k = 0;
  for (auto [key, value] : obj) {
    const std::string_view prefix = "hit_rate@";
    if (key.substr(0, prefix.size()) != prefix) continue;
    const int k = std::atoi(std::string(key.substr(prefix.size())).c_str());
    double hit = 0, ndcg = 0;
    if (k <= best_k || value.get(hit) != simdjson::SUCCESS) continue;
    if (obj["ndcg@" + std::to_string(k)].get(ndcg) != simdjson::SUCCESS) continue;
    best_k = k;
    r.k = k;
    r.hit_rate = hit;
    r.ndcg = ndcg;
  }
  if (best_k == 0) {
    return Status::InvalidArgument("neither a prequential report (windows) nor an eval report (hit_rate@K)");
  }
  return r;
}

Result<QualityReport> ReadQualityReport(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("cannot open " + path);
  std::stringstream text;
  text << in.rdbuf();
  auto r = ParseQualityReport(text.str(), Stem(path));
  if (!r.ok()) return Status::InvalidArgument(path + ": " + r.status().message());
  return r;
}

std::string QualityPlotScript(const std::vector<QualityReport>& reports, const std::string& title,
                              const std::string& svg_path) {
  bool over_time = false;
  int k = reports.empty() ? 10 : reports.front().k;
  for (const QualityReport& r : reports) {
    over_time = over_time || !r.windows.empty();
    if (r.k != k) k = 0;  // mixed cut-offs: say "@k"
  }
  const std::string at = k > 0 ? "@" + std::to_string(k) : "@k";
  const int panels = (over_time ? 2 : 0) + 1;

  std::ostringstream g;
  g << "# Written by streamrec (eval/quality_plot.h); render with: gnuplot THIS_FILE\n";
  g << "set terminal svg size 900," << 300 * panels << " dynamic noenhanced font 'sans,11' background rgb 'white'\n";
  g << "set output " << Quote(svg_path) << "\n";
  // The data, inline (gnuplot 5 datablocks): one block per report's curve, one for bars.
  for (size_t i = 0; i < reports.size(); ++i) {
    if (reports[i].windows.empty()) continue;
    g << "$curve" << i << " << EOD\n";
    for (const QualityReport::Window& w : reports[i].windows) {
      g << Num(w.end_event) << " " << Num(w.hit_rate) << " " << Num(w.ndcg) << "\n";
    }
    g << "EOD\n";
  }
  g << "$bars << EOD\n";
  for (const QualityReport& r : reports) {
    g << Quote(r.label) << " " << Num(r.hit_rate) << " " << Num(r.ndcg) << "\n";
  }
  g << "EOD\n";
  g << "set multiplot layout " << panels << ",1 title " << Quote(title) << "\n";
  g << "set grid ytics\nset key outside right top\nset yrange [0:*]\n";
  if (over_time) {
    const char* metrics[2][2] = {{"2", "HitRate"}, {"3", "NDCG"}};
    for (const auto& m : metrics) {
      g << "set title " << Quote(std::string(m[1]) + at + " per window, over the stream") << "\n";
      g << "set xlabel 'events (test-then-train, time order)'\nset ylabel " << Quote(std::string(m[1]) + at)
        << "\n";
      g << "plot ";
      bool first = true;
      for (size_t i = 0; i < reports.size(); ++i) {
        if (reports[i].windows.empty()) continue;
        if (!first) g << ", ";
        first = false;
        g << "$curve" << i << " using 1:" << m[0] << " with linespoints title " << Quote(reports[i].label);
      }
      g << "\n";
    }
  }
  g << "set title " << Quote("HitRate" + at + " and NDCG" + at + " over all events, by model / channels")
    << "\n";
  g << "unset xlabel\nset ylabel 'metric'\nset style data histograms\n"
       "set style histogram clustered gap 1\nset style fill solid 0.8 border -1\nset boxwidth 0.9\n"
       "set xtics nomirror\n";
  g << "plot $bars using 2:xtic(1) title " << Quote("HitRate" + at) << ", '' using 3 title "
    << Quote("NDCG" + at) << "\n";
  g << "unset multiplot\n";
  return g.str();
}

std::string PlotPathFor(const std::string& report_path) {
  const std::string ext = ".json";
  if (report_path.size() > ext.size() &&
      report_path.compare(report_path.size() - ext.size(), ext.size(), ext) == 0) {
    return report_path.substr(0, report_path.size() - ext.size()) + ".svg";
  }
  return report_path + ".svg";
}

Status WriteQualityPlot(const std::vector<QualityReport>& reports, const std::string& title,
                        const std::string& svg_path) {
  if (reports.empty()) return Status::InvalidArgument("no report to plot");
  std::string script_path = svg_path;
  if (script_path.size() > 4 && script_path.compare(script_path.size() - 4, 4, ".svg") == 0) {
    script_path.resize(script_path.size() - 4);
  }
  script_path += ".gp";
  {
    std::ofstream out(script_path);
    out << QualityPlotScript(reports, title, svg_path);
    out.flush();
    if (!out) return Status::IoError("cannot write " + script_path);
  }
  // posix_spawnp (no shell): the paths are passed as they are.
  std::string program = "gnuplot";
  std::vector<char*> argv = {program.data(), script_path.data(), nullptr};
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, program.c_str(), nullptr, nullptr, argv.data(), environ);
  if (rc == ENOENT) {
    return Status::Unavailable("gnuplot not found (Debian package gnuplot-nox); run `gnuplot " + script_path +
                               "` to make " + svg_path);
  }
  if (rc != 0) return Status::Internal("cannot start gnuplot: " + std::string(std::strerror(rc)));
  int wstatus = 0;
  while (waitpid(pid, &wstatus, 0) < 0) {
    if (errno != EINTR) return Status::Internal("waitpid: " + std::string(std::strerror(errno)));
  }
  if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) {
    return Status::Internal("gnuplot failed on " + script_path);
  }
  return Status::Ok();
}

Status PlotReport(const std::string& report_json, const std::string& label, const std::string& title,
                  const std::string& svg_path, const std::string& who) {
  auto figures = ParseQualityReport(report_json, label);
  if (!figures.ok()) return figures.status();
  const Status st = WriteQualityPlot({*figures}, title, svg_path);
  if (st.code() == Status::Code::kUnavailable) {
    std::fprintf(stderr, "%s: no plot: %s\n", who.c_str(), st.message().c_str());
    return Status::Ok();
  }
  if (st.ok()) std::fprintf(stderr, "%s: plot written to %s\n", who.c_str(), svg_path.c_str());
  return st;
}

}  // namespace streamrec::eval
