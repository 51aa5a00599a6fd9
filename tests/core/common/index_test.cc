#include "services/core/common/index.h"

#include <sstream>
#include <type_traits>
#include <unordered_set>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash.h"
#include "gtest/gtest.h"

namespace smartbus {
namespace {

struct ATag {};
struct BTag {};
using AIdx = Index<ATag>;
using BIdx = Index<BTag>;

void TakesAThenB(AIdx, BIdx) {}

// --- What must not compile (checked at compile time; the test fails to build otherwise) ---
// Swapped arguments, a raw integer where an index is expected.
static_assert(std::is_invocable_v<decltype(&TakesAThenB), AIdx, BIdx>);
static_assert(!std::is_invocable_v<decltype(&TakesAThenB), BIdx, AIdx>);
static_assert(!std::is_invocable_v<decltype(&TakesAThenB), uint32_t, BIdx>);
static_assert(!std::is_invocable_v<decltype(&TakesAThenB), AIdx, int>);
// No conversion between kinds, not even an explicit one; none from an integer implicitly.
static_assert(!std::is_convertible_v<BIdx, AIdx>);
static_assert(!std::is_constructible_v<AIdx, BIdx>);
static_assert(!std::is_assignable_v<AIdx&, BIdx>);
static_assert(!std::is_assignable_v<AIdx&, uint32_t>);
static_assert(!std::is_convertible_v<uint32_t, AIdx>);
static_assert(std::is_constructible_v<AIdx, uint32_t>);
static_assert(std::is_constructible_v<AIdx, size_t>);
// Out to an integer is implicit (see index.h for why).
static_assert(std::is_convertible_v<AIdx, uint32_t>);
// Two kinds never compare.
template <class X, class Y>
concept EqualityComparableWith = requires(X x, Y y) { x == y; };
template <class X, class Y>
concept OrderedWith = requires(X x, Y y) { x < y; };
static_assert(EqualityComparableWith<AIdx, AIdx>);
static_assert(!EqualityComparableWith<AIdx, BIdx>);
static_assert(!EqualityComparableWith<BIdx, AIdx>);
static_assert(OrderedWith<AIdx, AIdx>);
static_assert(!OrderedWith<AIdx, BIdx>);
// An IndexVector refuses another kind's index, takes its own and plain integers.
template <class V, class I>
concept Subscriptable = requires(V v, I i) { v[i]; };
static_assert(Subscriptable<IndexVector<AIdx, int>, AIdx>);
static_assert(Subscriptable<const IndexVector<AIdx, int>&, AIdx>);
static_assert(Subscriptable<IndexVector<AIdx, int>, size_t>);
static_assert(!Subscriptable<IndexVector<AIdx, int>, BIdx>);
static_assert(!Subscriptable<const IndexVector<AIdx, int>&, BIdx>);
// Same size as the integer it replaces.
static_assert(sizeof(AIdx) == sizeof(uint32_t));
static_assert(std::is_trivially_copyable_v<AIdx>);

TEST(IndexTest, DefaultIsNoneAndEqualsKNoIndex) {
  AIdx a;
  EXPECT_FALSE(a.valid());
  EXPECT_EQ(a.value(), 0xFFFFFFFFu);
  EXPECT_EQ(a, AIdx::None());
  EXPECT_TRUE(a == kNoIndex);
  EXPECT_FALSE(a != kNoIndex);
  AIdx b(7u);
  EXPECT_TRUE(b.valid());
  EXPECT_TRUE(b != kNoIndex);
  b = kNoIndex;
  EXPECT_FALSE(b.valid());
  const uint32_t raw = kNoIndex;
  EXPECT_EQ(raw, 0xFFFFFFFFu);
}

TEST(IndexTest, ValueComparisonAndConversion) {
  AIdx a(3), b(5);
  EXPECT_EQ(a.value(), 3u);
  EXPECT_LT(a, b);
  EXPECT_GT(b, a);
  EXPECT_NE(a, b);
  EXPECT_EQ(a, AIdx(3u));
  const uint32_t as_int = b;
  EXPECT_EQ(as_int, 5u);
  std::vector<int> plain = {10, 11, 12};
  EXPECT_EQ(plain[AIdx(2)], 12);  // indexes a plain vector
  AIdx big(size_t{4000000000u});
  EXPECT_EQ(big.value(), 4000000000u);
}

TEST(IndexTest, HashesAsTheIntegerInAbslAndStdContainers) {
  EXPECT_EQ(absl::Hash<AIdx>()(AIdx(42)), absl::Hash<uint32_t>()(42u));
  EXPECT_EQ(std::hash<AIdx>()(AIdx(42)), std::hash<uint32_t>()(42u));
  absl::flat_hash_map<AIdx, int> m;
  m[AIdx(1)] = 10;
  m[AIdx(2)] = 20;
  m[AIdx(1)] += 1;
  EXPECT_EQ(m.size(), 2u);
  EXPECT_EQ(m.at(AIdx(1)), 11);
  absl::flat_hash_set<AIdx> s = {AIdx(1), AIdx(1), AIdx(9)};
  EXPECT_EQ(s.size(), 2u);
  std::unordered_set<AIdx> u = {AIdx(4), AIdx(4)};
  EXPECT_EQ(u.size(), 1u);
}

TEST(IndexTest, IndexVectorIndexesByItsKindAndByInteger) {
  IndexVector<AIdx, std::string> v;
  v.push_back("zero");
  v.push_back("one");
  EXPECT_EQ(v[AIdx(1)], "one");
  EXPECT_EQ(v[0], "zero");
  v[AIdx(0)] = "nil";
  EXPECT_EQ(v[0], "nil");
  std::vector<std::string> plain = {"x"};
  v = std::move(plain);
  EXPECT_EQ(v.size(), 1u);
  const std::vector<std::string>& base = v;  // usable where a std::vector is expected
  EXPECT_EQ(base[0], "x");
}

TEST(IndexTest, IdsEnumeratesTheIndicesInOrder) {
  IndexVector<AIdx, int> v = std::vector<int>{5, 6, 7};
  std::vector<AIdx> seen;
  for (AIdx i : v.ids()) seen.push_back(i);
  EXPECT_EQ(seen, (std::vector<AIdx>{AIdx(0), AIdx(1), AIdx(2)}));
  IndexVector<AIdx, int> empty;
  for (AIdx i : empty.ids()) ADD_FAILURE() << i;
}

TEST(IndexTest, PrintsItsValue) {
  std::ostringstream os;
  os << AIdx(12) << " " << AIdx();
  EXPECT_EQ(os.str(), "12 4294967295");
}

}  // namespace
}  // namespace smartbus
