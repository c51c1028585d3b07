// conv.cpp - im2col/col2im and the convolutions built on them: conv2d forward, its weight
// gradient and the transposed convolution (deconv2d), each one im2col (or col2im) plus
// one GEMM per image, images spread over the OpenMP threads; the float32 forward of
// larger convolutions runs oneDNN's direct convolution instead.
//
// Forward: im2col + GEMM or oneDNN's direct convolution, measured (float32, batch 64,
// the CNN of the compiler issue, 2 cores with AVX-512, best of 7 runs of 50 calls, quiet
// machine; with other builds running every number roughly doubles, the order holds):
//   1->8 3x3 pad 1 on 28x28    im2col+GEMM  80-100 us | oneDNN brgconv 156-162 us (117
//                               us without the reorders to/from its blocked layouts) |
//                               oneDNN on plain NCHW (gemm:jit) 163-165 us
//   8->16 3x3 on 14x14         im2col+GEMM 153-163 us | oneDNN brgconv 118-125 us (87
//                               us without reorders) | plain NCHW 315-325 us
// and, deciding the threshold: 4->8 3x3 on 28x28 (36 taps) 232 vs 281 us; 3->16 5x5 s2
// on 32x32 (75 taps) 424 vs 219 us; 16->32 3x3 on 14x14 587 vs 377 us; 1x1 convolutions
// (a plain GEMM here) 186 vs 296 us and 2.1 vs 5.2 ms; tiny ones ~3 vs ~35 us. So Auto
// runs oneDNN from 64 input taps (C*KH*KW) and 2^20 multiply-adds up, except 1x1.
#include "device_nn.h"
#include "device_ops.h"
#include "nn_geom.h"

#include <omp.h>
#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <unordered_map>
#include <vector>

namespace dz {

using namespace detail;

int64_t get_conv_outsize(int64_t input_size, int64_t kernel_size, int64_t stride, int64_t pad) {
  return (input_size + pad * 2 - kernel_size) / stride + 1;
}

int64_t get_deconv_outsize(int64_t input_size, int64_t kernel_size, int64_t stride, int64_t pad) {
  return stride * (input_size - 1) + kernel_size - pad * 2;
}

namespace {

/// C[M,N] = op(A) op(B) + beta C (beta 0 or 1), row-major. float32 runs oneDNN's sgemm
/// (single-threaded inside a parallel region), float64 a plain loop.
template <typename T>
void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const T *A, const T *B, T *C, T beta) {
  if (K == 0) {
    if (beta == T(0))
      std::fill(C, C + M * N, T(0));
    return;
  }
  if constexpr (std::is_same_v<T, float>) {
    dnnl_status_t st = dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', M, N, K, 1.0f, A, ta ? M : K, B,
                                  tb ? K : N, beta, C, N);
    if (st != dnnl_success)
      throw Error("conv2d: oneDNN sgemm failed with status " + std::to_string(int(st)));
  } else {
    auto a = [&](int64_t i, int64_t k) { return ta ? A[k * M + i] : A[i * K + k]; };
#pragma omp parallel for if (M * N * K > kParallelGrain && !omp_in_parallel())
    for (int64_t i = 0; i < M; ++i) {
      T *c = C + i * N;
      if (beta == T(0))
        std::fill(c, c + N, T(0));
      if (!tb) {
        for (int64_t k = 0; k < K; ++k) {
          T av = a(i, k);
          const T *brow = B + k * N;
#pragma omp simd
          for (int64_t j = 0; j < N; ++j)
            c[j] += av * brow[j];
        }
      } else {
        for (int64_t j = 0; j < N; ++j) {
          const T *brow = B + j * K;
          T s = 0;
          for (int64_t k = 0; k < K; ++k)
            s += a(i, k) * brow[k];
          c[j] += s;
        }
      }
    }
  }
}

/// Copies the KH*KW windows of one channel plane xp into col: tap k = kh*KW + kw of
/// window p = oh*OW + ow lands at col[k*sK + p*sP].
template <typename T>
void im2col_plane(const T *xp, T *col, const WindowGeom &g, int64_t sK, int64_t sP) {
  for (int64_t kh = 0; kh < g.KH; ++kh) {
    int64_t oh_lo, oh_hi;
    valid_range(g.OH, g.SH, g.PH, kh, g.H, oh_lo, oh_hi);
    for (int64_t kw = 0; kw < g.KW; ++kw) {
      int64_t ow_lo, ow_hi;
      valid_range(g.OW, g.SW, g.PW, kw, g.W, ow_lo, ow_hi);
      T *row = col + (kh * g.KW + kw) * sK;
      for (int64_t oh = 0; oh < g.OH; ++oh) {
        T *out = row + oh * g.OW * sP;
        if (oh < oh_lo || oh >= oh_hi) {
          for (int64_t ow = 0; ow < g.OW; ++ow)
            out[ow * sP] = T(0);
          continue;
        }
        const T *xr = xp + (oh * g.SH - g.PH + kh) * g.W - g.PW + kw;
        for (int64_t ow = 0; ow < ow_lo; ++ow)
          out[ow * sP] = T(0);
        if (g.SW == 1 && sP == 1)
          std::copy(xr + ow_lo, xr + ow_hi, out + ow_lo);
        else
          for (int64_t ow = ow_lo; ow < ow_hi; ++ow)
            out[ow * sP] = xr[ow * g.SW];
        for (int64_t ow = ow_hi; ow < g.OW; ++ow)
          out[ow * sP] = T(0);
      }
    }
  }
}

/// The adjoint of im2col_plane: adds col back into the (already initialised) plane xp.
template <typename T>
void col2im_plane(const T *col, T *xp, const WindowGeom &g, int64_t sK, int64_t sP) {
  for (int64_t kh = 0; kh < g.KH; ++kh) {
    int64_t oh_lo, oh_hi;
    valid_range(g.OH, g.SH, g.PH, kh, g.H, oh_lo, oh_hi);
    for (int64_t kw = 0; kw < g.KW; ++kw) {
      int64_t ow_lo, ow_hi;
      valid_range(g.OW, g.SW, g.PW, kw, g.W, ow_lo, ow_hi);
      const T *row = col + (kh * g.KW + kw) * sK;
      for (int64_t oh = oh_lo; oh < oh_hi; ++oh) {
        const T *in = row + oh * g.OW * sP;
        T *xr = xp + (oh * g.SH - g.PH + kh) * g.W - g.PW + kw;
        for (int64_t ow = ow_lo; ow < ow_hi; ++ow)
          xr[ow * g.SW] += in[ow * sP];
      }
    }
  }
}

/// Strides of the two col layouts, per image n, per tap (c, kh, kw) and per window p.
struct ColLayout {
  int64_t sN, sK, sP;
};
ColLayout col_layout(const WindowGeom &g, bool to_matrix) {
  int64_t ckk = g.C * g.window();
  if (to_matrix) // (N, OH, OW, C, KH, KW)
    return {g.out_plane() * ckk, 1, ckk};
  return {ckk * g.out_plane(), g.out_plane(), 1}; // (N, C, KH, KW, OH, OW)
}

Shape col_shape(const WindowGeom &g, bool to_matrix) {
  if (to_matrix)
    return {g.N * g.OH * g.OW, g.C * g.KH * g.KW};
  return {g.N, g.C, g.KH, g.KW, g.OH, g.OW};
}

/// True when im2col of one image is the image itself (1x1 kernel, stride 1, no padding).
bool is_pointwise(const WindowGeom &g) {
  return g.KH == 1 && g.KW == 1 && g.SH == 1 && g.SW == 1 && g.PH == 0 && g.PW == 0;
}

/// Runs body(n, scratch) for every image n. Images go to separate threads when there are
/// enough of them (each thread then runs its GEMMs single-threaded on its own scratch of
/// `scratch_elems`); otherwise images run in turn and each GEMM uses the whole team.
template <typename T, typename Body>
void for_each_image(int64_t N, int64_t work, int64_t scratch_elems, Body &&body) {
  bool outer = N >= omp_get_max_threads() && N > 1 && work > kParallelGrain;
  if (!outer) {
    std::vector<T> scratch(static_cast<size_t>(scratch_elems));
    for (int64_t n = 0; n < N; ++n)
      body(n, scratch.data());
    return;
  }
#pragma omp parallel
  {
    std::vector<T> scratch(static_cast<size_t>(scratch_elems));
#pragma omp for schedule(static)
    for (int64_t n = 0; n < N; ++n)
      body(n, scratch.data());
  }
}

} // namespace

Tensor im2col(const Tensor &x0, Size2 kernel, Size2 stride, Size2 pad, bool to_matrix) {
  WindowGeom g = make_geom("im2col", x0.shape(), kernel, stride, pad);
  DType dt = float_operands("im2col", {{"x", &x0}});
  if (!x0.device().is_cpu())
    return device::window_gather(x0, g, to_matrix ? device::WindowOrder::Matrix
                                                  : device::WindowOrder::Col)
        .reshape(col_shape(g, to_matrix));
  Tensor x = x0, col(col_shape(g, to_matrix), dt);
  ColLayout L = col_layout(g, to_matrix);
  visit_float(dt, "im2col", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T *px = x.data<T>();
    T *pc = col.data<T>();
    parallel_for(g.N * g.C, col.size(), [&](int64_t nc) {
      int64_t n = nc / g.C, c = nc % g.C;
      im2col_plane(px + nc * g.plane(), pc + n * L.sN + c * g.window() * L.sK, g, L.sK, L.sP);
    });
  });
  return col;
}

Tensor col2im(const Tensor &col0, const Shape &x_shape, Size2 kernel, Size2 stride, Size2 pad,
              bool to_matrix) {
  WindowGeom g = make_geom("col2im", x_shape, kernel, stride, pad);
  DType dt = float_operands("col2im", {{"col", &col0}});
  if (col0.shape() != col_shape(g, to_matrix))
    throw Error("col2im: col of shape " + shape_str(col0.shape()) + " does not fit image " +
                shape_str(x_shape) + " with kernel " + size2_str(kernel) + ", stride " +
                size2_str(stride) + ", pad " + size2_str(pad) + " (expected " +
                shape_str(col_shape(g, to_matrix)) + ")");
  if (!col0.device().is_cpu())
    return device::window_scatter(col0, g,
                                  to_matrix ? device::WindowOrder::Matrix
                                            : device::WindowOrder::Col);
  Tensor x = zeros(x_shape, dt);
  ColLayout L = col_layout(g, to_matrix);
  visit_float(dt, "col2im", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T *pc = col0.data<T>();
    T *px = x.data<T>();
    parallel_for(g.N * g.C, col0.size(), [&](int64_t nc) {
      int64_t n = nc / g.C, c = nc % g.C;
      col2im_plane(pc + n * L.sN + c * g.window() * L.sK, px + nc * g.plane(), g, L.sK, L.sP);
    });
  });
  return x;
}

namespace {

void check_bias(const char *op, const Tensor *b, int64_t channels, const Tensor &W) {
  if (b && (b->ndim() != 1 || b->shape(0) != channels))
    throw Error(std::string(op) + ": bias of shape " + shape_str(b->shape()) +
                " does not match W " + shape_str(W.shape()) + " (need shape (" +
                std::to_string(channels) + ",))");
}

/// y[n, oc, :] = b[oc] for every image (the GEMM then accumulates onto it).
template <typename T> void fill_bias(T *y, const T *b, int64_t channels, int64_t plane) {
  for (int64_t oc = 0; oc < channels; ++oc)
    std::fill(y + oc * plane, y + (oc + 1) * plane, b ? b[oc] : T(0));
}

} // namespace

namespace {

/// Auto runs oneDNN for float32 windows of at least this many input taps (C*KH*KW) and
/// at least kOneDnnMinMacs multiply-adds, except 1x1 convolutions, which im2col leaves
/// as a plain GEMM (see the measurements at the top).
constexpr int64_t kOneDnnMinTaps = 64;
constexpr int64_t kOneDnnMinMacs = int64_t(1) << 20;

/// float32 convolution through oneDNN's direct convolution in the blocked layouts it
/// prefers: x and W are reordered in, y out (primitives come from oneDNN's cache).
void conv2d_onednn(const Tensor &x, const Tensor &W, const Tensor *b, const WindowGeom &g,
                   Tensor &y) {
  using namespace dnnl;
  using tag = memory::format_tag;
  const auto f32 = memory::data_type::f32;
  static engine eng(engine::kind::cpu, 0);
  stream s(eng);
  const int64_t OC = W.shape(0);
  memory::dims src{g.N, g.C, g.H, g.W}, wei{OC, g.C, g.KH, g.KW}, dst{g.N, OC, g.OH, g.OW};
  memory::dims strides{g.SH, g.SW}, pad_l{g.PH, g.PW};
  // The right padding that makes the output exactly OH x OW (below PH when the stride
  // does not divide the padded extent).
  memory::dims pad_r{(g.OH - 1) * g.SH + g.KH - g.H - g.PH, (g.OW - 1) * g.SW + g.KW - g.W - g.PW};
  memory::desc any_src(src, f32, tag::any), any_wei(wei, f32, tag::any),
      any_dst(dst, f32, tag::any);
  auto desc =
      b ? convolution_forward::desc(prop_kind::forward_inference, algorithm::convolution_direct,
                                    any_src, any_wei, memory::desc({OC}, f32, tag::x), any_dst,
                                    strides, pad_l, pad_r)
        : convolution_forward::desc(prop_kind::forward_inference, algorithm::convolution_direct,
                                    any_src, any_wei, any_dst, strides, pad_l, pad_r);
  convolution_forward::primitive_desc pd(desc, eng);
  memory usrc({src, f32, tag::nchw}, eng, x.raw()), uwei({wei, f32, tag::oihw}, eng, W.raw()),
      udst({dst, f32, tag::nchw}, eng, y.raw());
  auto blocked = [&](memory &user, const memory::desc &want) {
    if (want == user.get_desc())
      return user;
    memory m(want, eng);
    reorder(user, m).execute(s, user, m);
    return m;
  };
  memory msrc = blocked(usrc, pd.src_desc()), mwei = blocked(uwei, pd.weights_desc());
  memory mdst = pd.dst_desc() == udst.get_desc() ? udst : memory(pd.dst_desc(), eng);
  std::unordered_map<int, memory> args{
      {DNNL_ARG_SRC, msrc}, {DNNL_ARG_WEIGHTS, mwei}, {DNNL_ARG_DST, mdst}};
  if (b)
    args.emplace(DNNL_ARG_BIAS, memory({{OC}, f32, tag::x}, eng, b->raw()));
  convolution_forward(pd).execute(s, args);
  if (mdst != udst)
    reorder(mdst, udst).execute(s, mdst, udst);
  s.wait();
}

} // namespace

Tensor conv2d(const Tensor &x0, const Tensor &W0, const Tensor *b0, Size2 stride, Size2 pad,
              ConvAlgo algo) {
  if (W0.ndim() != 4)
    throw Error("conv2d: W must be 4-d (OC, C, KH, KW), got shape " + shape_str(W0.shape()));
  WindowGeom g = make_geom("conv2d", x0.shape(), {W0.shape(2), W0.shape(3)}, stride, pad);
  if (W0.shape(1) != g.C)
    throw Error("conv2d: x " + shape_str(x0.shape()) + " has " + std::to_string(g.C) +
                " channels but W " + shape_str(W0.shape()) + " expects " +
                std::to_string(W0.shape(1)) + " (W is (OC, C, KH, KW))");
  const int64_t OC = W0.shape(0);
  check_bias("conv2d", b0, OC, W0);
  DType dt = float_operands("conv2d", {{"x", &x0}, {"W", &W0}, {"b", b0}});
  if (device::op_device("conv2d", {&x0, &W0, b0}) != Device::cpu())
    return device::conv2d(x0.to(dt), W0.to(dt), b0, g);
  Tensor x = x0.to(dt), W = W0.to(dt), y({g.N, OC, g.OH, g.OW}, dt);
  Tensor b = b0 ? b0->to(dt) : Tensor();
  const int64_t ckk = g.C * g.window(), P = g.out_plane();
  const bool pointwise = is_pointwise(g);
  if (algo == ConvAlgo::Auto) {
    bool big = ckk >= kOneDnnMinTaps && g.N * OC * P * ckk >= kOneDnnMinMacs;
    algo = big && !pointwise ? ConvAlgo::OneDNN : ConvAlgo::Im2colGemm;
  }
  if (algo == ConvAlgo::OneDNN && dt == f32 && y.size() > 0 && ckk > 0) {
    try {
      conv2d_onednn(x, W, b0 ? &b : nullptr, g, y);
      return y;
    } catch (const dnnl::error &) {
      // oneDNN has no implementation for this case: im2col + GEMM below does it.
    }
  }
  visit_float(dt, "conv2d", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T *px = x.data<T>(), *pw = W.data<T>(), *pb = b0 ? b.data<T>() : nullptr;
    T *py = y.data<T>();
    int64_t work = g.N * (ckk * P + OC * ckk * P / 8);
    for_each_image<T>(g.N, work, pointwise ? 0 : ckk * P, [&](int64_t n, T *col) {
      const T *xn = px + n * g.C * g.plane();
      if (!pointwise)
        for (int64_t c = 0; c < g.C; ++c)
          im2col_plane(xn + c * g.plane(), col + c * g.window() * P, g, P, 1);
      T *yn = py + n * OC * P;
      if (pb)
        fill_bias(yn, pb, OC, P);
      gemm<T>(false, false, OC, P, ckk, pw, pointwise ? xn : col, yn, pb ? T(1) : T(0));
    });
  });
  return y;
}

Tensor conv2d_grad_w(const Tensor &x0, const Tensor &gy0, Size2 kernel, Size2 stride, Size2 pad) {
  WindowGeom g = make_geom("conv2d_grad_w", x0.shape(), kernel, stride, pad);
  if (gy0.ndim() != 4 || gy0.shape(0) != g.N || gy0.shape(2) != g.OH || gy0.shape(3) != g.OW)
    throw Error("conv2d_grad_w: gy of shape " + shape_str(gy0.shape()) + " does not fit x " +
                shape_str(x0.shape()) + " with kernel " + size2_str(kernel) + ", stride " +
                size2_str(stride) + ", pad " + size2_str(pad) + " (expected (" +
                std::to_string(g.N) + ", OC, " + std::to_string(g.OH) + ", " +
                std::to_string(g.OW) + "))");
  const int64_t OC = gy0.shape(1), ckk = g.C * g.window(), P = g.out_plane();
  DType dt = float_operands("conv2d_grad_w", {{"x", &x0}, {"gy", &gy0}});
  if (device::op_device("conv2d_grad_w", {&x0, &gy0}) != Device::cpu())
    return device::conv2d_grad_w(x0.to(dt), gy0.to(dt), g);
  Tensor x = x0.to(dt), gy = gy0.to(dt), gW = zeros({OC, g.C, g.KH, g.KW}, dt);
  const bool pointwise = is_pointwise(g);
  visit_float(dt, "conv2d_grad_w", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T *px = x.data<T>(), *pg = gy.data<T>();
    T *pw = gW.data<T>();
    int64_t work = g.N * (ckk * P + OC * ckk * P / 8);
    // Each thread sums its images' gy_n @ col_n^T into a private (OC, C*KH*KW) block
    // that follows its im2col scratch; the blocks are added up at the end.
    const int64_t col_elems = pointwise ? 0 : ckk * P;
    const bool outer = g.N >= omp_get_max_threads() && g.N > 1 && work > kParallelGrain;
    const int nthreads = outer ? omp_get_max_threads() : 1;
    std::vector<std::vector<T>> scratch(static_cast<size_t>(nthreads));
#pragma omp parallel num_threads(nthreads) if (outer)
    {
      std::vector<T> &s = scratch[size_t(omp_get_thread_num())];
      s.assign(size_t(col_elems + OC * ckk), T(0));
      T *col = s.data(), *acc = s.data() + col_elems;
#pragma omp for schedule(static)
      for (int64_t n = 0; n < g.N; ++n) {
        const T *xn = px + n * g.C * g.plane();
        if (!pointwise)
          for (int64_t c = 0; c < g.C; ++c)
            im2col_plane(xn + c * g.plane(), col + c * g.window() * P, g, P, 1);
        gemm<T>(false, true, OC, ckk, P, pg + n * OC * P, pointwise ? xn : col, acc, T(1));
      }
    }
    for (const std::vector<T> &s : scratch)
      for (int64_t i = 0; i < OC * ckk; ++i)
        pw[i] += s[size_t(col_elems + i)];
  });
  return gW;
}

Tensor deconv2d(const Tensor &x0, const Tensor &W0, const Tensor *b0, Size2 stride, Size2 pad,
                Size2 outsize) {
  if (x0.ndim() != 4)
    throw Error("deconv2d: input must be 4-d (N, C, H, W), got shape " + shape_str(x0.shape()));
  if (W0.ndim() != 4)
    throw Error("deconv2d: W must be 4-d (C, OC, KH, KW), got shape " + shape_str(W0.shape()));
  if (W0.shape(0) != x0.shape(1))
    throw Error("deconv2d: x " + shape_str(x0.shape()) + " has " + std::to_string(x0.shape(1)) +
                " channels but W " + shape_str(W0.shape()) + " expects " +
                std::to_string(W0.shape(0)) + " (W is (C, OC, KH, KW))");
  const int64_t N = x0.shape(0), C = x0.shape(1), H = x0.shape(2), Wd = x0.shape(3);
  const int64_t OC = W0.shape(1);
  // The output image seen as the input of the convolution this one transposes.
  WindowGeom g =
      make_geom("deconv2d", {N, OC, outsize.h, outsize.w}, {W0.shape(2), W0.shape(3)}, stride, pad);
  if (g.OH != H || g.OW != Wd)
    throw Error("deconv2d: outsize " + size2_str(outsize) +
                " does not convolve back to the "
                "input's " +
                std::to_string(H) + "x" + std::to_string(Wd) + " (kernel " +
                size2_str({g.KH, g.KW}) + ", stride " + size2_str(stride) + ", pad " +
                size2_str(pad) + "); valid heights are " +
                std::to_string(get_deconv_outsize(H, g.KH, g.SH, g.PH)) + " to " +
                std::to_string(get_deconv_outsize(H, g.KH, g.SH, g.PH) + g.SH - 1));
  check_bias("deconv2d", b0, OC, W0);
  DType dt = float_operands("deconv2d", {{"x", &x0}, {"W", &W0}, {"b", b0}});
  if (device::op_device("deconv2d", {&x0, &W0, b0}) != Device::cpu())
    return device::deconv2d(x0.to(dt), W0.to(dt), b0, g);
  Tensor x = x0.to(dt), W = W0.to(dt), y({N, OC, g.H, g.W}, dt);
  Tensor b = b0 ? b0->to(dt) : Tensor();
  const int64_t okk = OC * g.window(), P = H * Wd;
  const bool pointwise = is_pointwise(g);
  visit_float(dt, "deconv2d", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T *px = x.data<T>(), *pw = W.data<T>(), *pb = b0 ? b.data<T>() : nullptr;
    T *py = y.data<T>();
    int64_t work = N * (okk * P + C * okk * P / 8);
    for_each_image<T>(N, work, pointwise ? 0 : okk * P, [&](int64_t n, T *col) {
      T *yn = py + n * OC * g.plane();
      fill_bias(yn, pb, OC, g.plane());
      if (pointwise) {
        gemm<T>(true, false, OC, P, C, pw, px + n * C * P, yn, T(1));
        return;
      }
      gemm<T>(true, false, okk, P, C, pw, px + n * C * P, col, T(0));
      for (int64_t oc = 0; oc < OC; ++oc)
        col2im_plane(col + oc * g.window() * P, yn + oc * g.plane(), g, P, 1);
    });
  });
  return y;
}

} // namespace dz
