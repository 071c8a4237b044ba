// core/tensor: dtypes, storage, single rounding on set/to, equality and overflow-checked sizes.
#include "core/tensor.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "core/error.hpp"
#include "tests/thrown_kind.hpp"

namespace mhc {
namespace {

using test::thrown_kind;

TEST(DType, SizesAndSafetensorsNames) {
  EXPECT_EQ(dtype_size(DType::bf16), 2u);
  EXPECT_EQ(dtype_size(DType::f32), 4u);
  EXPECT_EQ(dtype_size(DType::f64), 8u);
  for (DType d : {DType::bf16, DType::f32, DType::f64}) EXPECT_EQ(dtype_from_name(dtype_name(d)), d);
  EXPECT_EQ(dtype_name(DType::bf16), "BF16");
  EXPECT_EQ(thrown_kind([] { dtype_from_name("F8_E4M3"); }), ErrorKind::invalid_input);
  EXPECT_EQ(thrown_kind([] { dtype_from_name("bf16"); }), ErrorKind::invalid_input);  // case matters
}

TEST(Tensor, UndefinedByDefault) {
  const Tensor t;
  EXPECT_FALSE(t.defined());
  EXPECT_EQ(t.describe(), "undefined");
  EXPECT_FALSE(t.to(DType::f32).defined());
  EXPECT_TRUE(bitwise_equal(Tensor(), Tensor()));
  EXPECT_FALSE(bitwise_equal(Tensor(), Tensor(DType::f32, {0})));
}

TEST(Tensor, ShapeStorageAndZeroInit) {
  const Tensor t(DType::bf16, {2, 3, 5});
  EXPECT_TRUE(t.defined());
  EXPECT_EQ(t.numel(), 30);
  EXPECT_EQ(t.nbytes(), 60u);
  EXPECT_EQ(t.rank(), 3u);
  EXPECT_EQ(t.dim(2), 5);
  EXPECT_EQ(t.describe(), "bf16[2,3,5]");
  for (std::int64_t i = 0; i < t.numel(); ++i) EXPECT_EQ(t.get(i), 0.0);
  const Tensor empty(DType::f32, {0, 4});
  EXPECT_EQ(empty.numel(), 0);
  EXPECT_EQ(empty.nbytes(), 0u);
  const Tensor scalar(DType::f64, {});
  EXPECT_EQ(scalar.numel(), 1);
}

TEST(Tensor, SetRoundsOnceToStorageDtype) {
  Tensor b(DType::bf16, {3});
  b.set(0, 1.0 + 0x1p-8 + 0x1p-30);  // just above a bf16 tie: must round up
  b.set(1, 1.0 + 0x1p-8);            // exact tie: even
  b.set(2, -2.5);
  EXPECT_EQ(b.data<bf16>()[0].bits, 0x3F81);
  EXPECT_EQ(b.data<bf16>()[1].bits, 0x3F80);
  EXPECT_EQ(b.get(2), -2.5);
  Tensor f(DType::f32, {1});
  f.set(0, 0.1);
  EXPECT_EQ(f.data<float>()[0], 0.1f);
  Tensor d(DType::f64, {1});
  d.set(0, 0.1);
  EXPECT_EQ(d.get(0), 0.1);
}

TEST(Tensor, ConversionsAndCopies) {
  Tensor f(DType::f32, {4});
  const float values[] = {1.0f, -0.333333343f, 65504.0f, 1e-3f};
  for (int i = 0; i < 4; ++i) f.set(i, values[i]);
  const Tensor b = f.to(DType::bf16);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(b.data<bf16>()[i].bits, bf16_bits_from_f32(values[i]));
  const Tensor d = f.to(DType::f64);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(d.get(i), static_cast<double>(values[i]));
  EXPECT_TRUE(bitwise_equal(f.to(DType::f32), f));
  EXPECT_EQ(f.to_f64_vector(), d.to_f64_vector());
}

TEST(Tensor, BitwiseEqualSeesDtypeShapeAndPayload) {
  Tensor a(DType::f32, {2, 2}), b(DType::f32, {2, 2});
  EXPECT_TRUE(bitwise_equal(a, b));
  EXPECT_FALSE(bitwise_equal(a, Tensor(DType::f32, {4})));
  EXPECT_FALSE(bitwise_equal(a, Tensor(DType::f64, {2, 2})));
  b.set(3, -0.0);  // -0 == +0 numerically, not bitwise
  EXPECT_FALSE(bitwise_equal(a, b));
  const std::uint32_t nan1 = 0x7FC00001u, nan2 = 0x7FC00002u;
  std::memcpy(a.data<float>(), &nan1, 4);
  Tensor c = a.to(DType::f32);
  EXPECT_TRUE(bitwise_equal(a, c));
  std::memcpy(c.data<float>(), &nan2, 4);
  EXPECT_FALSE(bitwise_equal(a, c));
}

TEST(Tensor, TypedAccessChecksDtype) {
  Tensor t(DType::f32, {1});
  EXPECT_NE(t.data<float>(), nullptr);
  EXPECT_EQ(thrown_kind([&] { t.data<double>(); }), ErrorKind::internal);
  EXPECT_EQ(thrown_kind([] { Tensor().data<float>(); }), ErrorKind::internal);
}

TEST(Tensor, CheckedNumelRejectsNegativeAndOverflow) {
  constexpr std::int64_t big = std::int64_t{1} << 40;
  EXPECT_EQ(checked_numel({3, 0, big}), 0);
  EXPECT_EQ(checked_numel({big, 1024}), big * 1024);
  EXPECT_EQ(thrown_kind([] { checked_numel({2, -1}); }), ErrorKind::invalid_input);
  EXPECT_EQ(thrown_kind([] { checked_numel({big, big}); }), ErrorKind::invalid_input);
  EXPECT_EQ(thrown_kind([] { checked_numel({std::numeric_limits<std::int64_t>::max() / 2 + 1}, 2); }),
            ErrorKind::invalid_input);
  EXPECT_EQ(thrown_kind([] { Tensor(DType::f64, {big, big}); }), ErrorKind::invalid_input);
}

}  // namespace
}  // namespace mhc
