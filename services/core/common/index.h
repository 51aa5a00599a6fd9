#pragma once
// Strong index types: the position of an entity (trip, stop, route, ...) in its table, typed by
// the kind of entity, so that passing a stop where a trip is expected does not compile.
//
//   struct TripTag {};  using TripIdx = Index<TripTag>;   (the aliases live in gtfs/feed.h)
//
// The choice, and why:
// - In: construction from an integer is explicit (`TripIdx(i)`), and there is no conversion
//   from one kind to another at all (`TripIdx(stop)` does not compile; write
//   `TripIdx(stop.value())` if you really mean it). So a function taking (TripIdx, StopIdx)
//   rejects swapped arguments and raw integers, and `trip = stop` does not compile.
// - Out: conversion to uint32_t is implicit. An index is used as a plain integer all over the
//   code: to index vectors, in protobuf and store encodings, CSV, hashing into keys,
//   arithmetic (`first_stop_time + k`). Making that explicit would touch every such line (some
//   thousand) for little gain, while the mistakes the type exists for happen where an index
//   goes *in* (arguments, fields). The price is that two kinds meet as integers in built-in
//   operators; the common cases are closed off here: comparing two different kinds
//   (`trip == stop`, `<`, `<=>`) is a deleted overload, and IndexVector (below) refuses an
//   index of another kind. `trip == 5u` and `trip + 1` (a plain integer) still compile.
// - "None": the default value is kNoIndex (0xFFFFFFFF), the sentinel the code used before;
//   `kNoIndex` converts to every index kind and to uint32_t, so `trip = kNoIndex` and
//   `trip != kNoIndex` read as before.
// - Same size, same value and same hash as the uint32_t it replaces: wire and store formats,
//   CSV output and container behaviour do not change.

#include <compare>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <ostream>
#include <utility>
#include <vector>

namespace smartbus {

template <class Tag>
class Index {
 public:
  static constexpr uint32_t kNoneValue = 0xFFFFFFFFu;

  constexpr Index() = default;  // none (kNoIndex)
  template <std::integral I>
  constexpr explicit Index(I v) : v_(static_cast<uint32_t>(v)) {}

  static constexpr Index None() { return Index(); }
  constexpr uint32_t value() const { return v_; }
  constexpr bool valid() const { return v_ != kNoneValue; }
  constexpr operator uint32_t() const { return v_; }  // NOLINT: implicit by design (see top)

  friend constexpr bool operator==(const Index&, const Index&) = default;
  friend constexpr std::strong_ordering operator<=>(const Index&, const Index&) = default;

  template <typename H>
  friend H AbslHashValue(H h, const Index& i) {
    return H::combine(std::move(h), i.v_);
  }
  friend std::ostream& operator<<(std::ostream& os, const Index& i) { return os << i.v_; }

 private:
  uint32_t v_ = kNoneValue;
};

// Two different kinds never compare: `trip == stop` is a compile error, not a silent integer
// comparison.
template <class A, class B>
  requires(!std::same_as<A, B>)
bool operator==(const Index<A>&, const Index<B>&) = delete;
template <class A, class B>
  requires(!std::same_as<A, B>)
std::strong_ordering operator<=>(const Index<A>&, const Index<B>&) = delete;

// The "no entity" sentinel: converts to uint32_t (0xFFFFFFFF) and to every Index kind (none).
struct NoIndexT {
  constexpr operator uint32_t() const { return 0xFFFFFFFFu; }  // NOLINT: implicit by design
  template <class Tag>
  constexpr operator Index<Tag>() const {  // NOLINT: implicit by design
    return Index<Tag>();
  }
};
inline constexpr NoIndexT kNoIndex{};

// The indices [0, n) of one kind, in order: `for (TripIdx t : feed.trips.ids())`.
template <class Idx>
class IndexRange {
 public:
  class iterator {
   public:
    constexpr explicit iterator(uint32_t i) : i_(i) {}
    constexpr Idx operator*() const { return Idx(i_); }
    constexpr iterator& operator++() {
      ++i_;
      return *this;
    }
    constexpr bool operator==(const iterator&) const = default;

   private:
    uint32_t i_;
  };
  constexpr explicit IndexRange(size_t n) : n_(static_cast<uint32_t>(n)) {}
  constexpr iterator begin() const { return iterator(0); }
  constexpr iterator end() const { return iterator(n_); }

 private:
  uint32_t n_;
};

// A std::vector of the entities of one kind: indexing with an index of another kind does not
// compile. Plain integers still index it (loops over all entities).
template <class Idx, class T>
class IndexVector : public std::vector<T> {
 public:
  using std::vector<T>::vector;
  using std::vector<T>::operator=;
  using std::vector<T>::operator[];
  IndexVector() = default;
  IndexVector(std::vector<T> v) : std::vector<T>(std::move(v)) {}  // NOLINT: implicit

  T& operator[](Idx i) { return std::vector<T>::operator[](i.value()); }
  const T& operator[](Idx i) const { return std::vector<T>::operator[](i.value()); }
  template <class Tag>
    requires(!std::same_as<Index<Tag>, Idx>)
  void operator[](Index<Tag>) const = delete;

  IndexRange<Idx> ids() const { return IndexRange<Idx>(this->size()); }
};

}  // namespace smartbus

template <class Tag>
struct std::hash<smartbus::Index<Tag>> {
  size_t operator()(const smartbus::Index<Tag>& i) const { return std::hash<uint32_t>()(i.value()); }
};
