// The CSV reader on its own: fields, quotes, line ends and line numbers, number parsing.

#include "services/core/common/csv.h"

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace smartbus {
namespace {

// All records of `text` (after the header) as vectors of strings, with their line numbers.
struct Parsed {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  std::vector<int64_t> lines;
};
Parsed ParseAll(std::string text) {
  Parsed p;
  CsvReader r(text.data(), text.size());
  p.header = r.header();
  while (r.Next()) {
    std::vector<std::string> row;
    for (size_t i = 0; i < r.num_fields(); ++i) row.emplace_back(r.Field(static_cast<int>(i)));
    p.rows.push_back(row);
    p.lines.push_back(r.line());
  }
  return p;
}

TEST(CsvReaderTest, HeaderColumnsByNameWithBomAndSpaces) {
  std::string text = "\xEF\xBB\xBF" "b, a ,c\r\n1,2,3\r\n";
  CsvReader r(text.data(), text.size());
  EXPECT_EQ(r.Column("a"), 1);
  EXPECT_EQ(r.Column("b"), 0);
  EXPECT_EQ(r.Column("missing"), -1);
  ASSERT_TRUE(r.Next());
  EXPECT_EQ(r.Field(r.Column("c")), "3");  // no CR left at the end of the line
  EXPECT_EQ(r.Field(-1), "");
  EXPECT_EQ(r.Field(7), "");
  EXPECT_FALSE(r.Next());
}

TEST(CsvReaderTest, QuotedFields) {
  Parsed p = ParseAll(
      "a,b,c\n"
      "\"x, y\",\"say \"\"hi\"\"\",\"\"\n"
      "\"multi\r\nline\",2,3\r\n"
      "last,row,no-newline");
  ASSERT_EQ(p.rows.size(), 3u);
  EXPECT_EQ(p.rows[0], (std::vector<std::string>{"x, y", "say \"hi\"", ""}));
  EXPECT_EQ(p.rows[1], (std::vector<std::string>{"multi\r\nline", "2", "3"}));
  EXPECT_EQ(p.rows[2], (std::vector<std::string>{"last", "row", "no-newline"}));
  EXPECT_EQ(p.lines, (std::vector<int64_t>{2, 3, 5}));
}

TEST(CsvReaderTest, BlankLinesAndShortRows) {
  Parsed p = ParseAll("a,b,c\n\n1,,\n\r\n4\n  \n");
  ASSERT_EQ(p.rows.size(), 2u);
  EXPECT_EQ(p.rows[0], (std::vector<std::string>{"1", "", ""}));
  EXPECT_EQ(p.rows[1], (std::vector<std::string>{"4"}));
  EXPECT_EQ(p.lines, (std::vector<int64_t>{3, 5}));
}

TEST(CsvReaderTest, TrimmedAndNumbers) {
  std::string text = "lat,lon\n  40.578350, -73.940029\n";
  CsvReader r(text.data(), text.size());
  ASSERT_TRUE(r.Next());
  EXPECT_EQ(r.Trimmed(0), "40.578350");
  double lat = 0, lon = 0;
  EXPECT_TRUE(ParseDouble(r.Field(0), &lat));
  EXPECT_TRUE(ParseDouble(r.Field(1), &lon));
  EXPECT_DOUBLE_EQ(lat, 40.578350);
  EXPECT_DOUBLE_EQ(lon, -73.940029);
  double d;
  EXPECT_FALSE(ParseDouble("", &d));
  EXPECT_FALSE(ParseDouble("1.5x", &d));
  EXPECT_TRUE(ParseDouble("+2", &d));
  int64_t v = 0;
  EXPECT_TRUE(ParseInt64(" 1140026 ", &v));
  EXPECT_EQ(v, 1140026);
  EXPECT_TRUE(ParseInt64("-3", &v));
  EXPECT_EQ(v, -3);
  EXPECT_FALSE(ParseInt64("3.0", &v));
  EXPECT_FALSE(ParseInt64("  ", &v));
  EXPECT_EQ(CountLines("a\nb\nc", 5), 2u);
}

// Probe of 1efad70: a short row read the previous row's values for its missing columns (Field
// compared the column with the buffer's size, not the row's field count).
TEST(CsvReaderTest, ShortRowNeverShowsAnEarlierRowsValues) {
  std::string text = "stop_id,name,lat,lon\n2615,Long,38.9,-77.0\n2683,XYZ\n";
  CsvReader r(text.data(), text.size());
  ASSERT_TRUE(r.Next());
  EXPECT_EQ(r.Field(2), "38.9");
  ASSERT_TRUE(r.Next());
  EXPECT_EQ(r.num_fields(), 2u);
  EXPECT_EQ(r.Field(1), "XYZ");
  EXPECT_EQ(r.Field(2), "");  // was "38.9"
  EXPECT_EQ(r.Field(3), "");  // was "-77.0"
  EXPECT_FALSE(r.Next());
}

// CR-only line ends (old Mac exports) are line ends; the file was one giant header before.
TEST(CsvReaderTest, CrOnlyLineEnds) {
  Parsed p = ParseAll("a,b\r1,2\r\"q\",4\r\r5,6");
  EXPECT_EQ(p.header, (std::vector<std::string>{"a", "b"}));
  ASSERT_EQ(p.rows.size(), 3u);
  EXPECT_EQ(p.rows[0], (std::vector<std::string>{"1", "2"}));
  EXPECT_EQ(p.rows[1], (std::vector<std::string>{"q", "4"}));
  EXPECT_EQ(p.rows[2], (std::vector<std::string>{"5", "6"}));
  EXPECT_EQ(p.lines, (std::vector<int64_t>{2, 3, 5}));
}

// An unbalanced quote stops the reader at its record and says on which line it opened, instead
// of swallowing the rest of the file into one field.
TEST(CsvReaderTest, UnclosedQuoteStopsAndNamesItsLine) {
  std::string text = "a,b\n1,2\n3,\"oops\n4,5\n6,7\n";
  CsvReader r(text.data(), text.size());
  ASSERT_TRUE(r.Next());
  EXPECT_EQ(r.unclosed_quote_line(), 0);
  EXPECT_FALSE(r.Next());
  EXPECT_EQ(r.unclosed_quote_line(), 3);
  EXPECT_FALSE(r.Next());
}

TEST(CsvReaderTest, AbbreviateKeepsMessagesShort) {
  EXPECT_EQ(Abbreviate("short"), "short");
  std::string big(10'000'000, 'x');
  std::string a = Abbreviate(big);
  EXPECT_LT(a.size(), 100u);
  EXPECT_NE(a.find("(10000000 bytes)"), std::string::npos);
  // Never cuts a UTF-8 sequence in two.
  std::string utf = std::string(63, 'a') + "\xC3\xA9" + std::string(10, 'b');
  EXPECT_EQ(Abbreviate(utf).substr(0, 66), std::string(63, 'a') + "...");
}

TEST(CsvRowTest, FieldsAreCommaSeparatedAndUnknownValuesEmpty) {
  std::string out;
  CsvRow(&out).Text("bus 1").Int(-1796646600).OptInt(-1).OptInt(7).Fixed(42.1000004, 6).End();
  CsvRow(&out).OptFixed(NAN, 1).OptFixed(2.25, 1).OptFixed(2.35, 0).Fixed(-0.05, 1).Empty().End();
  // Fixed is printf's %.Nf (round half to even on the exact binary value: 2.25 -> 2.2).
  char expect[64];
  std::snprintf(expect, sizeof expect, "%.1f,%.0f,%.1f", 2.25, 2.35, -0.05);
  EXPECT_EQ(out, "bus 1,-1796646600,,7,42.100000\n," + std::string(expect) + ",\n");
  EXPECT_EQ(std::string(expect), "2.2,2,-0.1");
}

}  // namespace
}  // namespace smartbus
