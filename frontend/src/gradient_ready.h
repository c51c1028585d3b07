// gradient_ready.h - an eager backward() tells a listener when a leaf's gradient is final,
// so that DataParallel (overlap option) can start a bucket's all-reduce while the backward
// pass goes on. Private to the frontend.
#pragma once

#include <dzc/variable.h>

#include <memory>

namespace dz::detail {

class GradientReadyListener {
public:
  virtual ~GradientReadyListener() = default;
  /// `leaf` (a Variable without a creator that requires a gradient) has its final
  /// gradient (or none): every function of the graph that reads it has run its backward.
  /// Not called for a leaf one of whose readers the backward pass does not reach (no
  /// gradient flows there). May throw: backward() then throws it.
  virtual void gradient_ready(const std::shared_ptr<VariableNode> &leaf) = 0;
};

/// The listener of this thread's eager backward passes (null: none; the default, which
/// costs nothing). Returns the previous one.
GradientReadyListener *set_gradient_ready_listener(GradientReadyListener *listener);
GradientReadyListener *gradient_ready_listener();

} // namespace dz::detail
