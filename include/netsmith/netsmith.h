/* netsmith: build and train neural networks in C. The umbrella header. */
#ifndef NETSMITH_H
#define NETSMITH_H

#include "netsmith/core.h"
#include "netsmith/data.h"
#include "netsmith/format.h"
#include "netsmith/io.h"
#include "netsmith/kernels.h"
#include "netsmith/metrics.h"
#include "netsmith/model.h"
#include "netsmith/train.h"
#include "netsmith/trainer.h"
#include "netsmith/run.h"
#include "netsmith/pipeline.h"
#include "netsmith/tune.h"
#include "netsmith/export.h"

#endif
