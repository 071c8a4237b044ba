#include "core/tensor.hpp"

#include <cstring>
#include <limits>
#include <sstream>

#include "core/error.hpp"

namespace mhc {

std::size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::bf16: return 2;
    case DType::f32: return 4;
    case DType::f64: return 8;
  }
  fail(ErrorKind::internal, "dtype_size: corrupt dtype");
}

std::string_view dtype_name(DType dtype) {
  switch (dtype) {
    case DType::bf16: return "BF16";
    case DType::f32: return "F32";
    case DType::f64: return "F64";
  }
  fail(ErrorKind::internal, "dtype_name: corrupt dtype");
}

DType dtype_from_name(std::string_view name) {
  if (name == "BF16") return DType::bf16;
  if (name == "F32") return DType::f32;
  if (name == "F64") return DType::f64;
  invalid_input("unsupported dtype \"" + std::string(name) + "\" (mhc-verify reads BF16, F32 and F64)");
}

std::int64_t checked_numel(const std::vector<std::int64_t>& shape, std::size_t elem_bytes) {
  constexpr std::int64_t max = std::numeric_limits<std::int64_t>::max();
  std::int64_t n = 1;
  for (std::int64_t d : shape) {
    if (d < 0) invalid_input("negative tensor extent " + std::to_string(d));
    if (d != 0 && n > max / d) invalid_input("tensor element count overflows 64 bits");
    n *= d;
  }
  if (elem_bytes > 1 && n > max / static_cast<std::int64_t>(elem_bytes)) {
    invalid_input("tensor byte size overflows 64 bits");
  }
  return n;
}

Tensor::Tensor(DType dtype, std::vector<std::int64_t> shape)
    : defined_(true), dtype_(dtype), shape_(std::move(shape)) {
  numel_ = checked_numel(shape_, dtype_size(dtype_));
  storage_.resize(static_cast<std::size_t>(numel_) * dtype_size(dtype_));
}

Tensor::Tensor(DType dtype, std::vector<std::int64_t> shape, std::shared_ptr<std::byte> storage)
    : defined_(true), dtype_(dtype), shape_(std::move(shape)) {
  numel_ = checked_numel(shape_, dtype_size(dtype_));
  const std::size_t nbytes = static_cast<std::size_t>(numel_) * dtype_size(dtype_);
  if (nbytes == 0) return;  // nothing to borrow
  if (storage == nullptr || reinterpret_cast<std::uintptr_t>(storage.get()) % dtype_size(dtype_) != 0) {
    fail(ErrorKind::internal, "tensor " + describe() + " over null or misaligned storage");
  }
  borrowed_ = std::move(storage);
  borrowed_nbytes_ = nbytes;
}

Tensor::Tensor(const Tensor& other)
    : defined_(other.defined_),
      dtype_(other.dtype_),
      shape_(other.shape_),
      numel_(other.numel_),
      storage_(other.borrowed_ ? std::vector<std::byte>(other.bytes(), other.bytes() + other.nbytes())
                               : other.storage_) {}

Tensor& Tensor::operator=(const Tensor& other) {
  if (this != &other) *this = Tensor(other);
  return *this;
}

template <class T>
static constexpr DType dtype_of() {
  if constexpr (std::is_same_v<T, bf16>) return DType::bf16;
  else if constexpr (std::is_same_v<T, float>) return DType::f32;
  else return DType::f64;
}

template <class T>
T* Tensor::data() {
  if (!defined_ || dtype_ != dtype_of<T>()) {
    fail(ErrorKind::internal, "typed access " + std::string(dtype_name(dtype_of<T>())) + " to tensor " + describe());
  }
  return reinterpret_cast<T*>(bytes());
}

template <class T>
const T* Tensor::data() const {
  return const_cast<Tensor*>(this)->data<T>();
}

template bf16* Tensor::data<bf16>();
template float* Tensor::data<float>();
template double* Tensor::data<double>();
template const bf16* Tensor::data<bf16>() const;
template const float* Tensor::data<float>() const;
template const double* Tensor::data<double>() const;

double Tensor::get(std::int64_t i) const {
  const std::byte* p = bytes() + static_cast<std::size_t>(i) * dtype_size(dtype_);
  switch (dtype_) {
    case DType::bf16: {
      std::uint16_t b;
      std::memcpy(&b, p, 2);
      return f32_from_bf16_bits(b);
    }
    case DType::f32: {
      float f;
      std::memcpy(&f, p, 4);
      return f;
    }
    case DType::f64: {
      double d;
      std::memcpy(&d, p, 8);
      return d;
    }
  }
  return 0.0;
}

void Tensor::set(std::int64_t i, double value) {
  std::byte* p = bytes() + static_cast<std::size_t>(i) * dtype_size(dtype_);
  switch (dtype_) {
    case DType::bf16: {
      const std::uint16_t b = bf16_bits_from_f64(value);
      std::memcpy(p, &b, 2);
      break;
    }
    case DType::f32: {
      const float f = static_cast<float>(value);
      std::memcpy(p, &f, 4);
      break;
    }
    case DType::f64: std::memcpy(p, &value, 8); break;
  }
}

Tensor Tensor::to(DType dtype) const {
  if (!defined_) return {};
  Tensor out(dtype, shape_);
  if (dtype == dtype_) {
    std::memcpy(out.bytes(), bytes(), nbytes());
    return out;
  }
  for (std::int64_t i = 0; i < numel_; ++i) out.set(i, get(i));
  return out;
}

std::vector<double> Tensor::to_f64_vector() const {
  std::vector<double> v(static_cast<std::size_t>(numel_));
  for (std::int64_t i = 0; i < numel_; ++i) v[static_cast<std::size_t>(i)] = get(i);
  return v;
}

std::string Tensor::describe() const {
  if (!defined_) return "undefined";
  std::ostringstream s;
  s << (dtype_ == DType::bf16 ? "bf16" : dtype_ == DType::f32 ? "f32" : "f64") << '[';
  for (std::size_t i = 0; i < shape_.size(); ++i) s << (i ? "," : "") << shape_[i];
  s << ']';
  return s.str();
}

bool bitwise_equal(const Tensor& a, const Tensor& b) {
  if (a.defined() != b.defined()) return false;
  if (!a.defined()) return true;
  // (memcmp of an empty tensor's null storage is undefined even for 0 bytes: UBSan reports it)
  return a.dtype() == b.dtype() && a.shape() == b.shape() &&
         (a.nbytes() == 0 || std::memcmp(a.bytes(), b.bytes(), a.nbytes()) == 0);
}

}  // namespace mhc
