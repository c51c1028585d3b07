// dzc/dzc.h - the umbrella header: everything a user of dzc's eager API needs.
//
//   #include <dzc/dzc.h>
//   namespace F = dz::functions;
#pragma once

#include <dzc/dataloaders.h>
#include <dzc/distributed.h>
#include <dzc/datasets.h>
#include <dzc/functions.h>
#include <dzc/functions_nn.h>
#include <dzc/history.h>
#include <dzc/io.h>
#include <dzc/layers.h>
#include <dzc/models.h>
#include <dzc/optimizers.h>
#include <dzc/tensor.h>
#include <dzc/utils.h>
#include <dzc/compile.h>
#include <dzc/onnx.h>
#include <dzc/variable.h>
#include <dzc/version.h>
