// JUnit XML: escaping, and well-formedness checked by parsing the output back with Python's
// xml.dom.minidom (skipped when python3 is absent).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "sample_reports.hpp"
#include "tool_runner.hpp"
#include "verify/report_format.hpp"
#include "verify/report_junit.hpp"

namespace mhc::verify {
namespace {

using nlohmann::json;

// A sweep whose strings carry every XML special character, a control character, a line break and
// a byte that is not UTF-8.
SweepReport hostile_sweep() {
  SweepReport r = testing::sample_sweep();
  r.name = "quick <&> \"sweep\" 'a'";
  CaseReport& f = r.cases[6];
  f.spec.distribution = "we<ird>&\"quoted\"'";
  f.diagnosis->sentence = "H <-> H^T & \"x\" 'y' \x01 bell\nsecond line \xff end";
  r.cases[8].error = "rule <T=0> & \"empty\"";
  r.cases[9].error = "oom\n<at> dphi & more";
  return r;
}

TEST(ReportJunit, EscapesXmlSpecials) {
  EXPECT_EQ(xml_escape("<a href=\"x\">&'</a>"), "&lt;a href=&quot;x&quot;&gt;&amp;&apos;&lt;/a&gt;");
  EXPECT_EQ(xml_escape("a\nb\tc"), "a&#10;b&#9;c");
  EXPECT_EQ(xml_escape("a\nb\tc", false), "a\nb\tc");
  EXPECT_EQ(xml_escape("bell\x01!"), "bell\xEF\xBF\xBD!");
  EXPECT_EQ(xml_escape("bad \xff utf8"), "bad \xEF\xBF\xBD utf8");
  EXPECT_EQ(xml_escape("H\xe1\xb5\x80 ok"), "H\xe1\xb5\x80 ok");  // Hᵀ is valid UTF-8
  EXPECT_EQ(xml_escape("\xed\xa0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // a UTF-16 surrogate
}

TEST(ReportJunit, StructureAndCounts) {
  const std::string xml = render_junit(testing::sample_sweep());
  EXPECT_EQ(xml.rfind("<?xml version=\"1.0\" encoding=\"UTF-8\"?>", 0), 0u);
  EXPECT_NE(xml.find("<testsuite name=\"quick\" tests=\"11\" failures=\"2\" errors=\"2\" skipped=\"1\""),
            std::string::npos);
  EXPECT_NE(xml.find("classname=\"pre.deepseek\""), std::string::npos);
  EXPECT_NE(xml.find("<failure message=\"" + xml_escape(diagnosis_line(testing::failing_case())) +
                     "\" type=\"missing_factor\">"),
            std::string::npos);
  EXPECT_NE(xml.find("<error message=\"crashed: "), std::string::npos);
  EXPECT_NE(xml.find("type=\"crash\""), std::string::npos);
  EXPECT_NE(xml.find("<skipped message="), std::string::npos);
}

// Parses `xml` with minidom and returns what it saw.
json parse_with_python(const std::string& xml) {
  const std::string python = testing::find_on_path("python3");
  if (python.empty()) return nullptr;
  testing::TempDir dir;
  const auto file = dir.path() / "junit.xml";
  testing::write_file(file, xml);
  const std::string script = R"py(
import json, sys, xml.dom.minidom as m
d = m.parse(sys.argv[1])
suites = d.getElementsByTagName('testsuite')
def kids(e): return [c for c in e.childNodes if c.nodeType == c.ELEMENT_NODE]
cases = []
for tc in d.getElementsByTagName('testcase'):
    k = kids(tc)
    first = k[0] if k and k[0].tagName != 'system-out' else None
    cases.append({'classname': tc.getAttribute('classname'), 'name': tc.getAttribute('name'),
                  'outcome': first.tagName if first else 'pass',
                  'message': first.getAttribute('message') if first else '',
                  'text': ''.join(c.data for c in first.childNodes if c.nodeType == c.TEXT_NODE) if first else ''})
print(json.dumps({'suites': len(suites), 'suite_name': suites[0].getAttribute('name'),
                  'tests': suites[0].getAttribute('tests'), 'cases': cases}))
)py";
  const testing::Run run = testing::run_command(testing::shell_quote(python) + " -c " + testing::shell_quote(script) +
                                                " " + testing::shell_quote(file.string()));
  EXPECT_EQ(run.exit_code, 0) << run.output;
  if (run.exit_code != 0) return json::object();
  return json::parse(run.output);
}

TEST(ReportJunit, WellFormedAndLosslessUnderHostileStrings) {
  const SweepReport r = hostile_sweep();
  const json parsed = parse_with_python(render_junit(r));
  if (parsed.is_null()) GTEST_SKIP() << "python3 not found";
  ASSERT_TRUE(parsed.contains("cases")) << parsed.dump();
  EXPECT_EQ(parsed["suites"], 1);
  EXPECT_EQ(parsed["suite_name"], r.name);
  EXPECT_EQ(parsed["tests"], "11");
  ASSERT_EQ(parsed["cases"].size(), r.cases.size());
  const char* outcomes[] = {"pass", "pass", "pass", "pass", "pass", "pass", "failure", "failure", "skipped", "error", "error"};
  for (std::size_t i = 0; i < r.cases.size(); ++i) {
    const json& c = parsed["cases"][i];
    EXPECT_EQ(c["name"], r.cases[i].spec.to_string()) << i;  // the case line survives exactly
    EXPECT_EQ(c["classname"], std::string(to_string(r.cases[i].spec.op)) + "." + r.cases[i].spec.preset);
    EXPECT_EQ(c["outcome"], outcomes[i]) << i;
  }
  // Attribute line breaks survive as character references; unrepresentable bytes become U+FFFD.
  const std::string message = parsed["cases"][6]["message"];
  EXPECT_NE(message.find("H <-> H^T & \"x\" 'y' \xEF\xBF\xBD bell\nsecond line \xEF\xBF\xBD end"), std::string::npos)
      << message;
  const std::string text = parsed["cases"][6]["text"];
  EXPECT_NE(text.find("part.dx_mm_res"), std::string::npos) << "the failure text is the tensor table";
  EXPECT_NE(text.find("dx"), std::string::npos);
  EXPECT_EQ(parsed["cases"][9]["text"], r.cases[9].error);
}

}  // namespace
}  // namespace mhc::verify
