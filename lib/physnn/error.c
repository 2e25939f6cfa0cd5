/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "physnn/error.h"

G_DEFINE_QUARK (physnn-error-quark, physnn_error)
