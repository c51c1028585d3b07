// functions_nn.cpp - DeZero's neural-network functions: each Function subclass has its
// forward (a kernel of dzc/nn_kernels.h) and its backward (built from F:: functions)
// side by side. The linear ones come in adjoint pairs whose backwards call each other:
// im2col/col2im, conv2d/deconv2d/conv2d_grad_w, PoolingGrad/PoolingWithIndexes,
// AveragePooling/AveragePoolingGrad.
#include <dzc/functions.h>
#include <dzc/functions_nn.h>
#include <dzc/trace_hook.h>

namespace dz::functions {

namespace {

template <typename Fn, typename... Args> Variable call1(std::vector<Variable> in, Args &&...a) {
  return std::make_shared<Fn>(std::forward<Args>(a)...)->apply(std::move(in))[0];
}

Size2 kernel_of(const Variable &W) { return {W.shape()[2], W.shape()[3]}; }

/// A (h, w) pair as a dz attribute (DenseI64ArrayAttr).
std::vector<int64_t> hw(Size2 s) { return {s.h, s.w}; }

/// The gradient of a per-channel bias of an NCHW output.
Variable bias_grad(const Variable &gy) { return sum(gy, {0, 2, 3}); }

// ---- im2col / col2im -------------------------------------------------------------------

struct Im2col : Function {
  Size2 kernel, stride, pad;
  bool to_matrix;
  Shape x_shape;
  Im2col(Size2 k, Size2 s, Size2 p, bool m) : kernel(k), stride(s), pad(p), to_matrix(m) {}
  std::string name() const override { return "Im2col"; }
  FunctionTrace trace() const override {
    return {FunctionTrace::Op,
            "im2col",
            {{"kernel", hw(kernel)},
             {"stride", hw(stride)},
             {"pad", hw(pad)},
             {"to_matrix", to_matrix}},
            {}};
  }
  std::vector<Tensor> forward(const std::vector<Tensor> &xs) override {
    x_shape = xs[0].shape();
    return {dz::im2col(xs[0], kernel, stride, pad, to_matrix)};
  }
  std::vector<Variable> backward(const std::vector<Variable> &gys) override {
    return {col2im(gys[0], x_shape, kernel, stride, pad, to_matrix)};
  }
};

struct Col2im : Function {
  Shape x_shape;
  Size2 kernel, stride, pad;
  bool to_matrix;
  Col2im(Shape xs, Size2 k, Size2 s, Size2 p, bool m)
      : x_shape(std::move(xs)), kernel(k), stride(s), pad(p), to_matrix(m) {}
  std::string name() const override { return "Col2im"; }
  FunctionTrace trace() const override {
    return {FunctionTrace::Op,
            "col2im",
            {{"shape", x_shape},
             {"kernel", hw(kernel)},
             {"stride", hw(stride)},
             {"pad", hw(pad)},
             {"to_matrix", to_matrix}},
            {}};
  }
  std::vector<Tensor> forward(const std::vector<Tensor> &xs) override {
    return {dz::col2im(xs[0], x_shape, kernel, stride, pad, to_matrix)};
  }
  std::vector<Variable> backward(const std::vector<Variable> &gys) override {
    return {im2col(gys[0], kernel, stride, pad, to_matrix)};
  }
};

// ---- convolutions ------------------------------------------------------------------------

/// y = conv(x, W) + b. gx is the transposed convolution of gy, gW the Conv2DGradW of
/// (x, gy); both are functions with backwards of their own.
struct Conv2d : Function {
  Size2 stride, pad;
  Conv2d(Size2 s, Size2 p) : stride(s), pad(p) {}
  std::string name() const override { return "Conv2d"; }
  FunctionTrace trace() const override {
    return {FunctionTrace::Op, "conv2d", {{"stride", hw(stride)}, {"pad", hw(pad)}}, {}};
  }
  std::vector<Tensor> forward(const std::vector<Tensor> &xs) override {
    return {dz::conv2d(xs[0], xs[1], xs.size() > 2 ? &xs[2] : nullptr, stride, pad)};
  }
  std::vector<Variable> backward(const std::vector<Variable> &gys) override {
    bool need_x = needs_input_grad(0), need_W = needs_input_grad(1);
    Variable x = input(0), W = input(1), gy = gys[0];
    Size2 hw{x.shape()[2], x.shape()[3]};
    std::vector<Variable> g{need_x ? deconv2d(gy, W, std::nullopt, stride, pad, hw) : Variable(),
                            need_W ? conv2d_grad_w(x, gy, kernel_of(W), stride, pad) : Variable()};
    if (inputs().size() > 2)
      g.push_back(bias_grad(gy));
    return g;
  }
};

/// The transposed convolution: the adjoint of conv2d in x, so its gradient in x is a
/// convolution, and its gradient in W is Conv2DGradW with the roles of x and gy swapped.
struct Deconv2d : Function {
  Size2 stride, pad, outsize;
  Deconv2d(Size2 s, Size2 p, Size2 o) : stride(s), pad(p), outsize(o) {}
  std::string name() const override { return "Deconv2d"; }
  FunctionTrace trace() const override {
    return {FunctionTrace::Op,
            "deconv2d",
            {{"stride", hw(stride)}, {"pad", hw(pad)}, {"outsize", hw(outsize)}},
            {}};
  }
  std::vector<Tensor> forward(const std::vector<Tensor> &xs) override {
    return {dz::deconv2d(xs[0], xs[1], xs.size() > 2 ? &xs[2] : nullptr, stride, pad, outsize)};
  }
  std::vector<Variable> backward(const std::vector<Variable> &gys) override {
    bool need_x = needs_input_grad(0), need_W = needs_input_grad(1);
    Variable x = input(0), W = input(1), gy = gys[0];
    std::vector<Variable> g{need_x ? conv2d(gy, W, std::nullopt, stride, pad) : Variable(),
                            need_W ? conv2d_grad_w(gy, x, kernel_of(W), stride, pad) : Variable()};
    if (inputs().size() > 2)
      g.push_back(bias_grad(gy));
    return g;
  }
};

/// gW = sum over n, oh, ow of gy x-window: bilinear in (x, gy), so for an incoming ggW
/// the gradients are deconv2d(gy, ggW) for x and conv2d(x, ggW) for gy.
struct Conv2dGradW : Function {
  Size2 kernel, stride, pad;
  Conv2dGradW(Size2 k, Size2 s, Size2 p) : kernel(k), stride(s), pad(p) {}
  std::string name() const override { return "Conv2DGradW"; }
  FunctionTrace trace() const override {
    return {FunctionTrace::Op,
            "conv2d_grad_w",
            {{"kernel", hw(kernel)}, {"stride", hw(stride)}, {"pad", hw(pad)}},
            {}};
  }
  std::vector<Tensor> forward(const std::vector<Tensor> &xs) override {
    return {dz::conv2d_grad_w(xs[0], xs[1], kernel, stride, pad)};
  }
  std::vector<Variable> backward(const std::vector<Variable> &gys) override {
    bool need_x = needs_input_grad(0), need_gy = needs_input_grad(1);
    Variable x = input(0), gy = input(1), ggW = gys[0];
    Size2 hw{x.shape()[2], x.shape()[3]};
    return {need_x ? deconv2d(gy, ggW, std::nullopt, stride, pad, hw) : Variable(),
            need_gy ? conv2d(x, ggW, std::nullopt, stride, pad) : Variable()};
  }
};

// ---- pooling -------------------------------------------------------------------------------

struct PoolGeom {
  Size2 kernel, stride, pad;
  std::vector<TraceAttr> attrs() const {
    return {{"kernel", hw(kernel)}, {"stride", hw(stride)}, {"pad", hw(pad)}};
  }
};

/// The derivative of max pooling: gy scattered to the argmax of each window.
struct PoolingGrad : Function {
  PoolGeom geom;
  Tensor indexes;
  Shape x_shape;
  PoolingGrad(PoolGeom g, Tensor i, Shape s)
      : geom(g), indexes(std::move(i)), x_shape(std::move(s)) {}
  std::string name() const override { return "Pooling2DGrad"; }
  std::vector<Tensor> forward(const std::vector<Tensor> &xs) override {
    return {dz::max_pool2d_grad(xs[0], indexes, x_shape, geom.kernel, geom.stride, geom.pad)};
  }
  std::vector<Variable> backward(const std::vector<Variable> &gys) override;
};

/// x read at fixed window positions (the argmax of an earlier max pooling): the adjoint of
/// PoolingGrad.
struct PoolingWithIndexes : Function {
  PoolGeom geom;
  Tensor indexes;
  Shape x_shape;
  PoolingWithIndexes(PoolGeom g, Tensor i) : geom(g), indexes(std::move(i)) {}
  std::string name() const override { return "Pooling2DWithIndexes"; }
  std::vector<Tensor> forward(const std::vector<Tensor> &xs) override {
    x_shape = xs[0].shape();
    return {dz::max_pool2d_gather(xs[0], indexes, geom.kernel, geom.stride, geom.pad)};
  }
  std::vector<Variable> backward(const std::vector<Variable> &gys) override {
    return {call1<PoolingGrad>({gys[0]}, geom, indexes, x_shape)};
  }
};

std::vector<Variable> PoolingGrad::backward(const std::vector<Variable> &gys) {
  return {call1<PoolingWithIndexes>({gys[0]}, geom, indexes)};
}

struct Pooling : Function {
  PoolGeom geom;
  Tensor indexes;
  Shape x_shape;
  explicit Pooling(PoolGeom g) : geom(g) {}
  std::string name() const override { return "Pooling"; }
  FunctionTrace trace() const override {
    return {FunctionTrace::Op, "max_pooling", geom.attrs(), {}};
  }
  std::vector<Tensor> forward(const std::vector<Tensor> &xs) override {
    x_shape = xs[0].shape();
    MaxPoolResult r = dz::max_pool2d(xs[0], geom.kernel, geom.stride, geom.pad);
    indexes = r.indexes;
    return {r.y};
  }
  std::vector<Variable> backward(const std::vector<Variable> &gys) override {
    return {call1<PoolingGrad>({gys[0]}, geom, indexes, x_shape)};
  }
};

struct AveragePoolingGrad : Function {
  PoolGeom geom;
  Shape x_shape;
  AveragePoolingGrad(PoolGeom g, Shape s) : geom(g), x_shape(std::move(s)) {}
  std::string name() const override { return "AveragePoolingGrad"; }
  FunctionTrace trace() const override {
    std::vector<TraceAttr> attrs = geom.attrs();
    attrs.push_back({"shape", x_shape});
    return {FunctionTrace::Op, "average_pooling_grad", std::move(attrs), {}};
  }
  std::vector<Tensor> forward(const std::vector<Tensor> &xs) override {
    return {dz::avg_pool2d_grad(xs[0], x_shape, geom.kernel, geom.stride, geom.pad)};
  }
  std::vector<Variable> backward(const std::vector<Variable> &gys) override {
    return {average_pooling(gys[0], geom.kernel, geom.stride, geom.pad)};
  }
};

struct AveragePooling : Function {
  PoolGeom geom;
  Shape x_shape;
  explicit AveragePooling(PoolGeom g) : geom(g) {}
  std::string name() const override { return "AveragePooling"; }
  FunctionTrace trace() const override {
    return {FunctionTrace::Op, "average_pooling", geom.attrs(), {}};
  }
  std::vector<Tensor> forward(const std::vector<Tensor> &xs) override {
    x_shape = xs[0].shape();
    return {dz::avg_pool2d(xs[0], geom.kernel, geom.stride, geom.pad)};
  }
  std::vector<Variable> backward(const std::vector<Variable> &gys) override {
    return {call1<AveragePoolingGrad>({gys[0]}, geom, x_shape)};
  }
};

// ---- batch normalisation ---------------------------------------------------------------------

/// Per-channel statistics of x (N, C) or (N, C, H, W): reduced axes and the shape that
/// broadcasts a (C,) vector against x.
struct ChannelAxes {
  std::vector<int64_t> axes;
  Shape bshape;
  int64_t C, m; // channels, elements per channel
};
ChannelAxes channel_axes(const Shape &x) {
  int64_t C = x[1];
  int64_t m = C ? shape_size(x) / C : 0;
  if (x.size() == 4)
    return {{0, 2, 3}, {1, C, 1, 1}, C, m};
  return {{0}, {1, C}, C, m};
}

/// DeZero's BatchNorm. In train mode it normalises with the batch statistics and moves the
/// running averages (tensors shared with the caller, updated in place); in test mode it
/// normalises with the running averages.
struct BatchNorm : Function {
  Tensor avg_mean, avg_var; // share storage with the caller's tensors
  double decay, eps;
  bool train = true;
  Tensor inv_std, used_mean; // (bshape); used_mean only in test mode
  BatchNorm(Tensor m, Tensor v, double d, double e)
      : avg_mean(std::move(m)), avg_var(std::move(v)), decay(d), eps(e) {}
  std::string name() const override { return "BatchNorm"; }
  /// Compiled as its tensor operations: in train mode the running averages' copy_ becomes
  /// a state write-back, and the IR gradient of the batch statistics is DeZero's formula.
  FunctionTrace trace() const override { return {FunctionTrace::Decompose, "", {}, {}}; }

  std::vector<Tensor> forward(const std::vector<Tensor> &xs) override {
    const Tensor &x = xs[0];
    ChannelAxes ca = channel_axes(x.shape());
    train = Config::train();
    Tensor xhat;
    if (train) {
      Tensor mean = x.mean(ca.axes, true);
      Tensor xc = x - mean;
      Tensor var = (xc * xc).mean(ca.axes, true);
      inv_std = 1.0 / dz::sqrt(var + eps);
      xhat = xc * inv_std;
      double m = double(ca.m), s = m - 1.0 > 1.0 ? m - 1.0 : 1.0;
      avg_mean.copy_(avg_mean * decay + mean.reshape({ca.C}) * (1.0 - decay));
      avg_var.copy_(avg_var * decay + var.reshape({ca.C}) * ((1.0 - decay) * m / s));
    } else {
      used_mean = avg_mean.to(x.dtype()).copy().reshape(ca.bshape); // not the live tensor
      inv_std = 1.0 / dz::sqrt(avg_var.to(x.dtype()).reshape(ca.bshape) + eps);
      xhat = (x - used_mean) * inv_std;
    }
    return {xs[1].reshape(ca.bshape) * xhat + xs[2].reshape(ca.bshape)};
  }

  std::vector<Variable> backward(const std::vector<Variable> &gys) override {
    Variable x = input(0), gamma = input(1), gy = gys[0];
    ChannelAxes ca = channel_axes(x.shape());
    Variable inv = Variable::constant(inv_std);
    Variable mean =
        train ? sum(x, ca.axes, true) * (1.0 / double(ca.m)) : Variable::constant(used_mean);
    Variable xc = (x - mean) * inv;
    Variable gbeta = sum(gy, ca.axes, true);
    Variable ggamma = sum(xc * gy, ca.axes, true);
    Variable scale = reshape(gamma, ca.bshape) * inv;
    Variable gx =
        train ? (gy - gbeta * (1.0 / double(ca.m)) - xc * ggamma * (1.0 / double(ca.m))) * scale
              : gy * scale;
    return {gx, reshape(ggamma, gamma.shape()), reshape(gbeta, input(2).shape())};
  }
};

// ---- embedding ---------------------------------------------------------------------------------

/// W[ids]: the rows of W at integer ids (compiled as dz.embed_id, the ids an operand, so
/// they may change from call to call). The gradient in W scatters gy back to the rows.
struct EmbedID : Function {
  Shape w_shape;
  std::string name() const override { return "EmbedID"; }
  FunctionTrace trace() const override { return {FunctionTrace::Op, "embed_id", {}, {}}; }
  std::vector<Tensor> forward(const std::vector<Tensor> &xs) override {
    w_shape = xs[1].shape();
    return {gather(xs[1], plan_index(w_shape, {Index(xs[0])}))};
  }
  std::vector<Variable> backward(const std::vector<Variable> &gys) override {
    return {Variable(), get_item_grad(gys[0], {Index(input(0).data())}, w_shape)};
  }
};

} // namespace

// ---- public functions ---------------------------------------------------------------------------

Variable im2col(const Variable &x, Size2 kernel, Size2 stride, Size2 pad, bool to_matrix) {
  return call1<Im2col>({x}, kernel, stride, pad, to_matrix);
}

Variable col2im(const Variable &col, const Shape &input_shape, Size2 kernel, Size2 stride,
                Size2 pad, bool to_matrix) {
  return call1<Col2im>({col}, input_shape, kernel, stride, pad, to_matrix);
}

Variable conv2d(const Variable &x, const Variable &W, std::optional<Variable> b, Size2 stride,
                Size2 pad) {
  if (b && b->defined())
    return call1<Conv2d>({x, W, *b}, stride, pad);
  return call1<Conv2d>({x, W}, stride, pad);
}

Variable deconv2d(const Variable &x, const Variable &W, std::optional<Variable> b, Size2 stride,
                  Size2 pad, std::optional<Size2> outsize) {
  if (x.ndim() != 4 || W.ndim() != 4)
    throw Error("deconv2d: need x (N, C, H, W) and W (C, OC, KH, KW), got x " +
                shape_str(x.shape()) + " and W " + shape_str(W.shape()));
  Size2 out =
      outsize.value_or(Size2{get_deconv_outsize(x.shape()[2], W.shape()[2], stride.h, pad.h),
                             get_deconv_outsize(x.shape()[3], W.shape()[3], stride.w, pad.w)});
  if (b && b->defined())
    return call1<Deconv2d>({x, W, *b}, stride, pad, out);
  return call1<Deconv2d>({x, W}, stride, pad, out);
}

Variable conv2d_grad_w(const Variable &x, const Variable &gy, Size2 kernel, Size2 stride,
                       Size2 pad) {
  return call1<Conv2dGradW>({x, gy}, kernel, stride, pad);
}

Variable pooling(const Variable &x, Size2 kernel, Size2 stride, Size2 pad) {
  return call1<Pooling>({x}, PoolGeom{kernel, stride, pad});
}

Variable average_pooling(const Variable &x, Size2 kernel, Size2 stride, Size2 pad) {
  return call1<AveragePooling>({x}, PoolGeom{kernel, stride, pad});
}

Variable batch_norm(const Variable &x, const Variable &gamma, const Variable &beta,
                    Tensor &running_mean, Tensor &running_var, double decay, double eps) {
  if (x.ndim() != 2 && x.ndim() != 4)
    throw Error("batch_norm: x must be 2-d (N, C) or 4-d (N, C, H, W), got shape " +
                shape_str(x.shape()));
  if (!is_floating(x.dtype()))
    throw Error(std::string("batch_norm: x has dtype ") + dtype_name(x.dtype()) +
                "; expected float32 or float64");
  const int64_t C = x.shape()[1];
  auto check_channels = [&](const char *what, const Shape &s) {
    if (shape_size(s) != C || s.size() != 1)
      throw Error(std::string("batch_norm: ") + what + " of shape " + shape_str(s) +
                  " does not match x " + shape_str(x.shape()) + " (need shape (" +
                  std::to_string(C) + ",))");
  };
  check_channels("gamma", gamma.shape());
  check_channels("beta", beta.shape());
  if (!running_mean.defined() || running_mean.size() == 0)
    running_mean = zeros({C}, x.dtype()).to(x.device());
  if (!running_var.defined() || running_var.size() == 0)
    running_var = ones({C}, x.dtype()).to(x.device());
  check_channels("running_mean", running_mean.shape());
  check_channels("running_var", running_var.shape());
  return call1<BatchNorm>({x, gamma, beta}, running_mean, running_var, decay, eps);
}

Variable embed_id(const Variable &x, const Variable &W) {
  if (W.ndim() != 2)
    throw Error("embed_id: W must be 2-d (in_size, out_size), got shape " + shape_str(W.shape()));
  if (is_floating(x.dtype()) || x.dtype() == b8)
    throw Error(std::string("embed_id: ids must be integers (int64 or int32), got dtype ") +
                dtype_name(x.dtype()));
  Tensor ids = x.data().to(i64);
  {
    TraceScope off; // a check of the ids, not part of a traced computation
    const Tensor host = ids.to(Device::cpu());
    const int64_t *p = host.data<int64_t>(), V = W.shape()[0];
    for (int64_t i = 0; i < host.size(); ++i)
      if (p[i] < 0 || p[i] >= V)
        throw Error("embed_id: id " + std::to_string(p[i]) + " is out of range for W " +
                    shape_str(W.shape()) + " (valid: 0 to " + std::to_string(V - 1) + ")");
  }
  return call1<EmbedID>({x.dtype() == i64 ? x : Variable::constant(ids), W});
}

} // namespace dz::functions
