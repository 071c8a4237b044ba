// Layout of the page: header with the summary line and counts; failures (one card per failing
// case: diagnosis, reproduce, error bars, decomposition table); error-vs-shape plots per op;
// errors, crashes and skips; every case per op in a table whose cells are small err/tol bars.
//
// Every ratio is drawn on the same log scale, 1e-3 .. 1e3 with the tolerance (ratio 1) in the
// middle, so bars are comparable across cases and tensors; values outside are clamped and the
// printed number stays exact.
#include "verify/report_html.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <vector>

#include <fmt/format.h>

#include "verify/report_format.hpp"

namespace mhc::verify {

namespace {

constexpr double kBarLogMin = -3;  // log10 of the smallest ratio a bar shows
constexpr double kBarLogMax = 3;
constexpr std::size_t kMaxDotsPerSeries = 400;
constexpr std::size_t kExpandedFailures = 3;

constexpr std::string_view kPassColor = "#2e8540";
constexpr std::string_view kFailColor = "#c62828";
constexpr std::string_view kSkipColor = "#b8860b";
constexpr std::string_view kErrorColor = "#8e24aa";

// Series colours of the error-vs-shape plots (colour-blind friendly, Okabe-Ito order).
constexpr std::string_view kPalette[] = {"#0072b2", "#e69f00", "#009e73", "#cc79a7",
                                         "#56b4e9", "#d55e00", "#000000", "#f0e442"};

std::string_view verdict_color(Verdict v) {
  switch (v) {
    case Verdict::pass: return kPassColor;
    case Verdict::fail: return kFailColor;
    case Verdict::skip: return kSkipColor;
    case Verdict::error:
    case Verdict::crash: return kErrorColor;
  }
  return kErrorColor;
}

std::string verdict_pill(Verdict v) {
  return fmt::format("<span class=\"pill {}\">{}</span>", to_string(v), verdict_label(v));
}

// Position of a ratio on the bar scale, in [0, 1].
double bar_fraction(double ratio) {
  if (std::isnan(ratio) || std::isinf(ratio)) return 1.0;
  if (ratio <= 0) return 0.0;
  const double l = std::clamp(std::log10(ratio), kBarLogMin, kBarLogMax);
  return (l - kBarLogMin) / (kBarLogMax - kBarLogMin);
}

// A bar of `width` px: grey track, coloured bar up to the ratio, dark tick at the tolerance.
std::string bar(double ratio, Verdict v, double x, double y, double width, double height) {
  const double tol_x = x + width * bar_fraction(1.0);
  return fmt::format(
      "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" class=\"track\"/>"
      "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"{}\"/>"
      "<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" class=\"tolmark\"/>",
      x, y, width, height, x, y, width * bar_fraction(ratio), height, verdict_color(v), tol_x, y - 2, tol_x,
      y + height + 2);
}

// The small bar of a table cell, with the number beside it. Plain CSS boxes rather than SVG: a
// report of 10,000 random cases has 80,000 of them.
std::string mini_bar(const TensorCheck& t) {
  const double ratio = tolerance_ratio(t);
  const bool fail = t.verdict == Verdict::fail;
  return fmt::format(
      "<span class=\"mbar\" title=\"{}: err/tol {}\"><i class=\"{}\" style=\"width:{:.1f}%\"></i>"
      "<b style=\"left:{:.1f}%\"></b></span><span class=\"num{}\">{}</span>",
      html_escape(t.name), format_ratio(ratio), fail ? "fail" : "pass", 100 * bar_fraction(ratio),
      100 * bar_fraction(1.0), fail ? " bad" : "", format_ratio(ratio));
}

std::string decade_label(int k) {
  if (k >= 0 && k <= 4) return fmt::format("{}", static_cast<long long>(std::llround(std::pow(10.0, k))));
  return fmt::format("1e{}", k);
}

// One bar per tensor of a case, with the axis of the log scale: the figure of a failure card.
std::string bar_chart(const CaseReport& c) {
  const double label_w = 90, bar_w = 420, row_h = 22, top = 8;
  const double height = top + row_h * static_cast<double>(c.tensors.size()) + 30;
  const double width = label_w + bar_w + 90;
  std::string svg = fmt::format(
      "<svg class=\"chart\" width=\"{0:.0f}\" height=\"{1:.0f}\" viewBox=\"0 0 {0:.0f} {1:.0f}\" role=\"img\">"
      "<title>err/tol per tensor, log scale</title>",
      width, height);
  const double axis_y = top + row_h * static_cast<double>(c.tensors.size()) + 4;
  for (int k = static_cast<int>(kBarLogMin); k <= static_cast<int>(kBarLogMax); ++k) {
    const double x = label_w + bar_w * (k - kBarLogMin) / (kBarLogMax - kBarLogMin);
    svg += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\" class=\"{3}\"/>"
                       "<text x=\"{0:.1f}\" y=\"{4:.1f}\" class=\"tick\" text-anchor=\"middle\">{5}</text>",
                       x, top - 4, axis_y, k == 0 ? "tolline" : "grid", axis_y + 14,
                       k == 0 ? "1 = tol" : html_escape(k < 0 ? fmt::format("1e{}", k) : decade_label(k)));
  }
  for (std::size_t i = 0; i < c.tensors.size(); ++i) {
    const TensorCheck& t = c.tensors[i];
    const double y = top + row_h * static_cast<double>(i);
    const double ratio = tolerance_ratio(t);
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" class=\"label\" text-anchor=\"end\">{}</text>", label_w - 8,
                       y + 13, html_escape(t.name));
    svg += bar(ratio, t.verdict, label_w, y + 4, bar_w, 12);
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" class=\"value{}\">{}</text>", label_w + bar_w + 8, y + 14,
                       t.verdict == Verdict::fail ? " bad" : "", format_ratio(ratio));
  }
  return svg + "</svg>";
}

// ---------------------------------------------------------------------------------------------
// Error-vs-shape plot of one op: x = the one shape axis that varies (or T*n*C), y = err/tol,
// log-log, one series per tensor, the points of every case and a line through the worst per x.

struct Axis {
  std::string name;
  double (*value)(const Shape&);
};

Axis shape_axis(const std::vector<const CaseReport*>& cases) {
  std::set<std::int64_t> Ts, ns, Cs;
  for (const CaseReport* c : cases) {
    Ts.insert(c->spec.shape.T);
    ns.insert(c->spec.shape.n);
    Cs.insert(c->spec.shape.C);
  }
  const int varying = (Ts.size() > 1) + (ns.size() > 1) + (Cs.size() > 1);
  if (varying == 1 && Ts.size() > 1) return {"T (tokens)", [](const Shape& s) { return double(s.T); }};
  if (varying == 1 && ns.size() > 1) return {"n (streams)", [](const Shape& s) { return double(s.n); }};
  if (varying == 1 && Cs.size() > 1) return {"C (channels)", [](const Shape& s) { return double(s.C); }};
  return {"T·n·C (elements of x)", [](const Shape& s) { return double(s.T) * double(s.n) * double(s.C); }};
}

std::string shape_plot(std::string_view op, const std::vector<const CaseReport*>& cases) {
  const Axis axis = shape_axis(cases);
  std::vector<std::string> series;  // tensor names in first-seen order
  struct Point {
    double x, y;
    bool fail;
  };
  std::map<std::string, std::vector<Point>> points;
  for (const CaseReport* c : cases) {
    const double x = axis.value(c->spec.shape);
    if (!(x > 0)) continue;  // T = 0 or C = 0 has no place on a log axis
    for (const TensorCheck& t : c->tensors) {
      if (!points.contains(t.name)) series.push_back(t.name);
      const double r = tolerance_ratio(t);
      points[t.name].push_back({x, std::isnan(r) ? INFINITY : r, t.verdict == Verdict::fail});
    }
  }
  if (series.empty()) return "<p class=\"note\">No judged tensors with a non-empty shape.</p>";

  double xmin = INFINITY, xmax = 0, ymin = INFINITY, ymax = 0;
  for (const auto& [name, ps] : points) {
    for (const Point& p : ps) {
      xmin = std::min(xmin, p.x), xmax = std::max(xmax, p.x);
      if (p.y > 0 && std::isfinite(p.y)) ymin = std::min(ymin, p.y), ymax = std::max(ymax, p.y);
    }
  }
  // Decades covering the data, always including the tolerance line at 1; clamped to 1e-6..1e6.
  int lx0 = static_cast<int>(std::floor(std::log10(xmin))), lx1 = static_cast<int>(std::ceil(std::log10(xmax)));
  if (lx1 <= lx0) lx1 = lx0 + 1;
  int ly0 = std::isfinite(ymin) ? static_cast<int>(std::floor(std::log10(ymin))) : -2;
  int ly1 = ymax > 0 ? static_cast<int>(std::ceil(std::log10(ymax))) : 1;
  ly0 = std::clamp(std::min(ly0, -1), -6, -1);
  ly1 = std::clamp(std::max(ly1, 1), 1, 6);

  const double left = 64, right = 130, top = 16, bottom = 48, w = 390, h = 260;  // two plots fit side by side
  const auto px = [&](double x) { return left + w * (std::log10(x) - lx0) / (lx1 - lx0); };
  const auto py = [&](double y) {
    const double l = y <= 0 ? ly0 : std::isinf(y) ? ly1 : std::clamp(std::log10(y), double(ly0), double(ly1));
    return top + h * (1 - (l - ly0) / (ly1 - ly0));
  };
  std::string svg = fmt::format(
      "<svg class=\"chart\" width=\"{0:.0f}\" height=\"{1:.0f}\" viewBox=\"0 0 {0:.0f} {1:.0f}\" role=\"img\">"
      "<title>{2}: err/tol against {3}, log-log</title>",
      left + w + right, top + h + bottom, html_escape(op), html_escape(axis.name));
  svg += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" class=\"plotarea\"/>", left, top, w, h);
  for (int k = lx0; k <= lx1; ++k) {
    const double x = px(std::pow(10.0, k));
    svg += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\" class=\"grid\"/>"
                       "<text x=\"{0:.1f}\" y=\"{3:.1f}\" class=\"tick\" text-anchor=\"middle\">{4}</text>",
                       x, top, top + h, top + h + 16, decade_label(k));
  }
  for (int k = ly0; k <= ly1; ++k) {
    const double y = py(std::pow(10.0, k));
    svg += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{2:.1f}\" y2=\"{1:.1f}\" class=\"{3}\"/>"
                       "<text x=\"{4:.1f}\" y=\"{5:.1f}\" class=\"tick\" text-anchor=\"end\">{6}</text>",
                       left, y, left + w, k == 0 ? "tolline" : "grid", left - 6, y + 4,
                       k == 0 ? std::string("1 = tol") : k < 0 ? fmt::format("1e{}", k) : decade_label(k));
  }
  svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" class=\"axis\" text-anchor=\"middle\">{}</text>", left + w / 2,
                     top + h + 38, html_escape(axis.name));
  svg += fmt::format("<text x=\"16\" y=\"{:.1f}\" class=\"axis\" text-anchor=\"middle\" transform=\"rotate(-90 16 {:.1f})\">"
                     "max err / tolerance</text>",
                     top + h / 2, top + h / 2);

  for (std::size_t s = 0; s < series.size(); ++s) {
    const std::string_view color = kPalette[s % std::size(kPalette)];
    const std::vector<Point>& ps = points[series[s]];
    std::map<double, double> worst;  // x -> worst y: the line
    for (const Point& p : ps) worst[p.x] = std::max(worst[p.x], p.y);
    std::string line;
    for (const auto& [x, y] : worst) line += fmt::format("{:.1f},{:.1f} ", px(x), py(y));
    svg += fmt::format("<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\"/>", line, color);
    // Past a few hundred cases the dots of passing cases would only bloat the file: keep the
    // line's vertices and every failure.
    const bool thin = ps.size() > kMaxDotsPerSeries;
    std::set<double> vertex_drawn;
    for (const Point& p : ps) {
      if (thin && !p.fail && (worst[p.x] != p.y || !vertex_drawn.insert(p.x).second)) continue;
      svg += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3.2\" fill=\"{}\"{}/>", px(p.x), py(p.y), color,
                         p.fail ? " stroke=\"#c62828\" stroke-width=\"2\"" : "");
    }
    const double ly = top + 8 + 18 * static_cast<double>(s);
    svg += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{2:.1f}\" y2=\"{1:.1f}\" stroke=\"{3}\" stroke-width=\"3\"/>"
                       "<text x=\"{4:.1f}\" y=\"{5:.1f}\" class=\"label\">{6}</text>",
                       left + w + 14, ly, left + w + 34, color, left + w + 40, ly + 4, html_escape(series[s]));
  }
  return svg + "</svg>";
}

// ---------------------------------------------------------------------------------------------

std::string decomposition_table(const CaseReport& c) {
  const std::string first_stage = c.diagnosis ? c.diagnosis->first_stage : "";
  const std::string blamed = c.diagnosis ? c.diagnosis->component : "";
  std::string out =
      "<table class=\"decomp\"><thead><tr><th>stage / component</th><th>max err</th><th>at</th><th>tolerance</th>"
      "<th>err/tol</th><th>worst row rel L2</th><th>ulps</th><th>mismatch</th><th>verdict</th><th>rule and "
      "reason</th></tr></thead><tbody>";
  for (const DecompositionGroup& g : decomposition_groups(c)) {
    out += "<tr class=\"group\"><td colspan=\"10\">" + html_escape(g.title) + "</td></tr>";
    for (const TensorCheck* t : g.rows) {
      std::string marks;
      if (!first_stage.empty() && t->name == first_stage) marks += " <span class=\"mark\">first divergence</span>";
      if (!blamed.empty() && t->name == blamed) marks += " <span class=\"mark\">blamed</span>";
      out += fmt::format(
          "<tr{}><td class=\"name\">{}{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"bar\">{}</td><td>{}</td>"
          "<td>{:.3g}</td><td>{:.2g}%</td><td>{}</td><td class=\"reason\">{}<br><span class=\"dim\">{}</span></td></tr>",
          t->verdict == Verdict::fail ? " class=\"failrow\"" : "", html_escape(t->name), marks,
          format_error(t->candidate.max_abs), format_position(t->candidate.max_at), format_error(t->elem_tolerance),
          mini_bar(*t), format_error(t->candidate.worst_row_rel_l2), t->candidate.max_ulps,
          100 * t->mismatch_fraction, verdict_pill(t->verdict), html_escape(t->rule), html_escape(t->reason));
    }
  }
  return out + "</tbody></table>";
}

// `expanded`: the decomposition table starts open (the first few failures; the rest stay folded
// so that a sweep with many failures still reads top to bottom).
std::string failure_card(const CaseReport& c, std::size_t number, bool expanded) {
  std::string out = fmt::format("<div class=\"card fail\" id=\"case-{}\"><h3>{} <code>{}</code></h3>", number,
                                verdict_pill(c.verdict), html_escape(display_name(c)));
  out += "<dl>";
  if (c.diagnosis) {
    const Diagnosis& d = *c.diagnosis;
    out += "<dt>diagnosis</dt><dd><strong>" + html_escape(d.tag) + "</strong>: " + html_escape(d.sentence) + "</dd>";
    std::string where;
    if (!d.tensor.empty()) where += "tensor <code>" + html_escape(d.tensor) + "</code> ";
    if (!d.component.empty()) where += "component <code>" + html_escape(d.component) + "</code> ";
    if (!d.first_stage.empty()) where += "first stage <code>" + html_escape(d.first_stage) + "</code> ";
    for (const auto& [key, value] : d.fields) where += html_escape(key) + "=<code>" + html_escape(value) + "</code> ";
    if (!where.empty()) out += "<dt>where</dt><dd>" + where + "</dd>";
  }
  for (const TensorCheck& t : c.tensors) {
    if (t.verdict == Verdict::fail && !t.reason.empty()) {
      out += "<dt>" + html_escape(t.name) + "</dt><dd>" + html_escape(t.reason) + "</dd>";
    }
  }
  if (!c.error.empty()) out += "<dt>note</dt><dd>" + html_escape(c.error) + "</dd>";
  out += "<dt>backend</dt><dd><code>" + html_escape(c.backend) + "</code> on <code>" + html_escape(c.device) + "</code>";
  if (!c.baseline.empty()) out += ", baseline <code>" + html_escape(c.baseline) + "</code>";
  out += "</dd>";
  if (!c.reproduce.empty()) out += "<dt>reproduce</dt><dd><code class=\"cmd\">" + html_escape(c.reproduce) + "</code></dd>";
  out += "</dl>";
  if (!c.tensors.empty()) out += bar_chart(c);
  if (!c.decomposition.empty() || !c.tensors.empty()) {
    out += fmt::format("<details{}><summary>{}</summary>{}</details>", expanded ? " open" : "",
                       c.decomposition.empty() ? "tensor details" : "decomposition: every stage and component",
                       decomposition_table(c));
  }
  return out + "</div>";
}

// All cases of one op: one row per case, one column per tensor holding its err/tol bar.
std::string case_table(const std::vector<std::pair<std::size_t, const CaseReport*>>& cases) {
  std::vector<std::string> tensors;
  for (const auto& [i, c] : cases) {
    for (const TensorCheck& t : c->tensors) {
      if (std::find(tensors.begin(), tensors.end(), t.name) == tensors.end()) tensors.push_back(t.name);
    }
  }
  std::string out = "<table class=\"cases\"><thead><tr><th>#</th><th>case</th><th>verdict</th>";
  for (const std::string& t : tensors) out += "<th>" + html_escape(t) + "</th>";
  out += "<th>time</th></tr></thead><tbody>";
  for (const auto& [i, c] : cases) {
    const std::string number = std::to_string(c->index ? *c->index : static_cast<std::int64_t>(i));
    const std::string name = c->verdict == Verdict::fail
                                 ? fmt::format("<a href=\"#case-{}\">{}</a>", i, html_escape(display_name(*c)))
                                 : html_escape(display_name(*c));
    out += fmt::format("<tr><td class=\"idx\">{}</td><td class=\"case\"><code>{}</code></td><td>{}</td>", number, name,
                       verdict_pill(c->verdict));
    if (c->tensors.empty()) {
      out += fmt::format("<td colspan=\"{}\" class=\"dim\">{}</td>", tensors.size(), html_escape(outcome_message(*c)));
    } else {
      for (const std::string& name_t : tensors) {
        const auto it = std::find_if(c->tensors.begin(), c->tensors.end(),
                                     [&](const TensorCheck& t) { return t.name == name_t; });
        out += "<td class=\"bar\">" + (it == c->tensors.end() ? std::string("-") : mini_bar(*it)) + "</td>";
      }
    }
    out += "<td class=\"idx\">" + format_seconds(c->seconds) + "</td></tr>";
  }
  return out + "</tbody></table>";
}

constexpr std::string_view kStyle = R"css(
:root { --pass: #2e8540; --fail: #c62828; --skip: #b8860b; --error: #8e24aa; --ink: #1f2328; --dim: #656d76;
        --line: #d0d7de; --panel: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; padding: 24px 32px 48px; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       color: var(--ink); background: #fff; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 32px 0 12px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 15px; margin: 0 0 8px; font-weight: 600; }
code { font: 12.5px/1.4 ui-monospace, "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono", monospace;
       overflow-wrap: anywhere; }
.meta { color: var(--dim); margin: 0 0 16px; }
.headline { font-size: 17px; font-weight: 600; padding: 10px 14px; border-radius: 6px; margin: 12px 0; }
.headline.ok { background: #e8f5ec; color: var(--pass); border: 1px solid #b7dfc2; }
.headline.bad { background: #fdecea; color: var(--fail); border: 1px solid #f5c2c0; }
.tiles { display: flex; gap: 12px; flex-wrap: wrap; }
.tile { min-width: 110px; padding: 10px 14px; border: 1px solid var(--line); border-radius: 6px; background: var(--panel); }
.tile b { display: block; font-size: 22px; }
.tile.pass b { color: var(--pass); } .tile.fail b { color: var(--fail); } .tile.skip b { color: var(--skip); }
.tile.error b, .tile.crash b { color: var(--error); }
.pill { display: inline-block; min-width: 44px; text-align: center; padding: 1px 6px; border-radius: 10px; color: #fff;
        font-size: 11px; font-weight: 700; letter-spacing: .03em; }
.pill.pass { background: var(--pass); } .pill.fail { background: var(--fail); } .pill.skip { background: var(--skip); }
.pill.error, .pill.crash { background: var(--error); }
.card { border: 1px solid var(--line); border-left: 4px solid var(--fail); border-radius: 6px; padding: 14px 16px;
        margin: 0 0 16px; background: #fff; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 4px 14px; margin: 0 0 12px; }
dt { color: var(--dim); } dd { margin: 0; }
code.cmd { background: var(--panel); padding: 2px 6px; border-radius: 4px; }
table { border-collapse: collapse; width: 100%; margin: 8px 0; font-size: 13px; }
th, td { padding: 4px 8px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: middle; }
th { background: var(--panel); font-weight: 600; white-space: nowrap; }
td.bar { white-space: nowrap; } td.idx { color: var(--dim); text-align: right; white-space: nowrap; }
td.case code { font-size: 12px; }
tr.group td { background: #fafbfc; font-weight: 600; color: var(--dim); }
tr.failrow td { background: #fff5f5; }
td.name { font-family: ui-monospace, Menlo, Consolas, "DejaVu Sans Mono", monospace; white-space: nowrap; }
table.decomp td { white-space: nowrap; }
table.decomp td.reason { white-space: normal; font-size: 12px; min-width: 360px; }
.mark { display: inline-block; margin-left: 6px; padding: 0 6px; border-radius: 8px; background: #fff3cd;
        color: #7a5a00; font: 600 11px system-ui, sans-serif; }
.dim { color: var(--dim); }
.num { display: inline-block; min-width: 40px; margin-left: 6px; font-variant-numeric: tabular-nums; }
.num.bad { color: var(--fail); font-weight: 700; }
.mbar { display: inline-block; position: relative; width: 64px; height: 8px; background: #eaeef2;
        vertical-align: middle; }
.mbar i { position: absolute; left: 0; top: 0; bottom: 0; } .mbar i.pass { background: var(--pass); }
.mbar i.fail { background: var(--fail); }
.mbar b { position: absolute; top: -2px; bottom: -2px; width: 2px; margin-left: -1px; background: #1f2328; }
svg .track { fill: #eaeef2; } svg .tolmark { stroke: #1f2328; stroke-width: 1.5; }
svg .grid { stroke: #e1e4e8; stroke-width: 1; } svg .tolline { stroke: var(--fail); stroke-width: 1.2; stroke-dasharray: 4 3; }
svg .plotarea { fill: #fcfcfd; stroke: var(--line); }
svg text { font: 11px system-ui, sans-serif; fill: var(--ink); } svg .tick { fill: var(--dim); }
svg .label { font: 12px ui-monospace, Menlo, Consolas, "DejaVu Sans Mono", monospace; }
svg .value { font: 12px system-ui, sans-serif; } svg .value.bad { fill: var(--fail); font-weight: 700; }
svg .axis { font: 12px system-ui, sans-serif; fill: var(--dim); }
.plots { display: flex; flex-wrap: wrap; gap: 24px; }
.plots figure { margin: 0; } .plots figcaption { font-weight: 600; margin-bottom: 4px; }
.note { color: var(--dim); }
details > summary { cursor: pointer; color: var(--dim); margin: 6px 0; }
ul.others li { margin: 4px 0; }
)css";

}  // namespace

std::string html_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    switch (ch) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += ch;
    }
  }
  return out;
}

std::string render_html(const SweepReport& report) {
  const SweepSummary s = report.summary();
  const bool ok = s.failed + s.errors + s.crashed == 0;
  const std::string title = "mhc-verify: " + (report.name.empty() ? std::string("sweep") : report.name);
  std::string out = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                    "<title>" + html_escape(title) + "</title><style>" + std::string(kStyle) + "</style></head><body>\n";
  out += "<h1>" + html_escape(title) + "</h1>";
  std::string meta;
  if (!report.backend.empty()) meta += "backend <code>" + html_escape(report.backend) + "</code>";
  if (!report.tool_version.empty()) meta += (meta.empty() ? "" : " · ") + std::string("mhc-verify ") + html_escape(report.tool_version);
  meta += (meta.empty() ? "" : " · ") + fmt::format("{} cases", report.cases.size());
  out += "<p class=\"meta\">" + meta + "</p>";
  out += fmt::format("<div class=\"headline {}\">{}</div>", ok ? "ok" : "bad", html_escape(report.summary_line()));
  out += "<div class=\"tiles\">";
  const std::pair<std::string_view, int> tiles[] = {
      {"pass", s.passed}, {"fail", s.failed}, {"skip", s.skipped}, {"error", s.errors}, {"crash", s.crashed}};
  const std::string_view tile_names[] = {"passed", "failed", "skipped", "errors", "crashed"};
  for (std::size_t i = 0; i < std::size(tiles); ++i) {
    if (i >= 3 && tiles[i].second == 0) continue;  // errors and crashes only when there are some
    out += fmt::format("<div class=\"tile {}\"><b>{}</b>{}</div>", tiles[i].first, tiles[i].second, tile_names[i]);
  }
  out += "</div>\n";

  if (s.failed > 0) {
    out += "<h2 id=\"failures\">Failures</h2>\n";
    std::size_t shown = 0;
    for (std::size_t i = 0; i < report.cases.size(); ++i) {
      if (report.cases[i].verdict != Verdict::fail) continue;
      out += failure_card(report.cases[i], i, shown++ < kExpandedFailures) + "\n";
    }
  }

  std::map<Op, std::vector<std::pair<std::size_t, const CaseReport*>>> by_op;  // pre before post
  for (std::size_t i = 0; i < report.cases.size(); ++i) by_op[report.cases[i].spec.op].push_back({i, &report.cases[i]});

  out += "<h2 id=\"shapes\">Error against shape</h2><p class=\"note\">Worst err/tol of each tensor per shape (line) and every "
         "case (dots; red ring = failed), log-log. Below the dashed line is within tolerance.</p><div class=\"plots\">";
  for (const auto& [op, cases] : by_op) {
    std::vector<const CaseReport*> judged;
    for (const auto& [i, c] : cases) {
      if (!c->tensors.empty()) judged.push_back(c);
    }
    if (judged.empty()) continue;
    out += "<figure><figcaption>" + std::string(to_string(op)) + "</figcaption>" + shape_plot(to_string(op), judged) +
           "</figure>";
  }
  out += "</div>\n";

  if (s.skipped + s.errors + s.crashed > 0) {
    out += "<h2 id=\"others\">Errors, crashes and skips</h2><ul class=\"others\">";
    for (const CaseReport& c : report.cases) {
      if (c.verdict == Verdict::pass || c.verdict == Verdict::fail) continue;
      out += "<li>" + verdict_pill(c.verdict) + " <code>" + html_escape(display_name(c)) + "</code>: " +
             html_escape(outcome_message(c));
      if (c.verdict != Verdict::skip && !c.reproduce.empty()) {
        out += "<br><span class=\"dim\">reproduce:</span> <code class=\"cmd\">" + html_escape(c.reproduce) + "</code>";
      }
      out += "</li>";
    }
    out += "</ul>\n";
  }

  out += "<h2 id=\"cases\">All cases</h2><p class=\"note\">Each bar is max err / tolerance on a log scale from 1e-3 to 1e3; the "
         "black tick is the tolerance.</p>";
  for (const auto& [op, cases] : by_op) {
    out += "<h3>" + std::string(to_string(op)) + "</h3>" + case_table(cases) + "\n";
  }
  out += "</body></html>\n";
  return out;
}

}  // namespace mhc::verify
