// A small owning host tensor: dtype {bf16, f32, f64}, row-major shape, zero-initialised storage.
// It may instead borrow its bytes (a mapped upload parsed without a copy); copies always own.
//
// Deliberately minimal: the math lives in reference/ and kernels/, which view the storage through
// Eigen maps or raw pointers. Conversions round exactly once (bf16: round to nearest even).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/bf16.hpp"

namespace mhc {

enum class DType : std::uint8_t { bf16, f32, f64 };

std::size_t dtype_size(DType dtype);
// Safetensors spelling: "BF16", "F32", "F64".
std::string_view dtype_name(DType dtype);
// Inverse of dtype_name; throws Error(invalid_input) naming the unknown dtype.
DType dtype_from_name(std::string_view name);

// Stored bf16 value (the bit pattern). Arithmetic happens after widening to f32/f64.
struct bf16 {
  std::uint16_t bits = 0;
};

class Tensor {
 public:
  Tensor() = default;  // undefined: no dtype, no shape (an absent optional tensor, e.g. gamma)
  Tensor(DType dtype, std::vector<std::int64_t> shape);
  // Over bytes owned elsewhere: `storage` points at numel * dtype_size bytes aligned to the
  // element size and keeps their owner alive (shared_ptr's aliasing constructor). Reads and writes
  // go to those bytes, so a 512 MiB upload is verified where it was received instead of being
  // copied first. A copy of such a tensor owns a copy of the bytes (copies stay independent, as
  // the "inputs unchanged" check needs); a move keeps borrowing. Error(internal) when misaligned.
  Tensor(DType dtype, std::vector<std::int64_t> shape, std::shared_ptr<std::byte> storage);

  Tensor(const Tensor& other);
  Tensor& operator=(const Tensor& other);
  Tensor(Tensor&&) noexcept = default;
  Tensor& operator=(Tensor&&) noexcept = default;
  ~Tensor() = default;

  bool defined() const { return defined_; }
  DType dtype() const { return dtype_; }
  const std::vector<std::int64_t>& shape() const { return shape_; }
  std::int64_t dim(std::size_t i) const { return shape_.at(i); }
  std::size_t rank() const { return shape_.size(); }
  std::int64_t numel() const { return numel_; }
  std::size_t nbytes() const { return borrowed_ ? borrowed_nbytes_ : storage_.size(); }

  std::byte* bytes() { return borrowed_ ? borrowed_.get() : storage_.data(); }
  const std::byte* bytes() const { return borrowed_ ? borrowed_.get() : storage_.data(); }

  // Typed views; throw Error(internal) when T does not match dtype().
  template <class T> T* data();
  template <class T> const T* data() const;

  // Element access by flat index, widened exactly to f64 / rounded once from f64.
  double get(std::int64_t i) const;
  void set(std::int64_t i, double value);

  // A copy in another dtype (rounds once; same dtype copies).
  Tensor to(DType dtype) const;
  // Widened copy of every element (convenience for comparisons and the golden).
  std::vector<double> to_f64_vector() const;

  // "bf16[4,2,7]"
  std::string describe() const;

 private:
  bool defined_ = false;
  DType dtype_ = DType::f32;
  std::vector<std::int64_t> shape_;
  std::int64_t numel_ = 0;
  std::vector<std::byte> storage_;        // owned bytes; empty while borrowing
  std::shared_ptr<std::byte> borrowed_;   // borrowed bytes (null when owning)
  std::size_t borrowed_nbytes_ = 0;
};

// Same dtype, shape and bytes (NaN payloads included): the "inputs unchanged" check.
bool bitwise_equal(const Tensor& a, const Tensor& b);

// Number of elements of a shape; throws Error(invalid_input) on a negative extent or when the
// product (or the byte size for `elem_bytes`) overflows 64 bits.
std::int64_t checked_numel(const std::vector<std::int64_t>& shape, std::size_t elem_bytes = 1);

}  // namespace mhc
