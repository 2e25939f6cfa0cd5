/* physnn — spike encoders: rate, Poisson, latency, delta, sigma-delta and
 * population coding of real-valued samples into binary spike trains.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib-object.h>

#include "physnn/device.h"
#include "physnn/tensor.h"

G_BEGIN_DECLS

/**
 * PhysnnEncodeMethod:
 * @PHYSNN_ENCODE_RATE: Bernoulli spikes with probability
 *   clamp(x·gain + offset, 0, 1) at every step (snnTorch `spikegen.rate`)
 * @PHYSNN_ENCODE_POISSON: spike where a uniform draw is below
 *   dt·f_max·x (Norse `poisson_encode`)
 * @PHYSNN_ENCODE_LATENCY: one spike per sample at the time-to-first-spike
 *   step (snnTorch `spikegen.latency`, log or linear)
 * @PHYSNN_ENCODE_DELTA: a spike where the sample changed by at least the
 *   threshold since the previous sample (snnTorch `spikegen.delta`)
 * @PHYSNN_ENCODE_SIGMA_DELTA: send-on-delta with a residue: changes below
 *   the threshold accumulate until they add up to one (Lava Delta encoder
 *   with binary spikes)
 * @PHYSNN_ENCODE_POPULATION: Gaussian receptive fields spread over a range,
 *   each field's response then rate coded
 *
 * How a #PhysnnEncoder turns a sample into spikes.
 */
typedef enum {
  PHYSNN_ENCODE_RATE,
  PHYSNN_ENCODE_POISSON,
  PHYSNN_ENCODE_LATENCY,
  PHYSNN_ENCODE_DELTA,
  PHYSNN_ENCODE_SIGMA_DELTA,
  PHYSNN_ENCODE_POPULATION,
} PhysnnEncodeMethod;

#define PHYSNN_TYPE_ENCODER (physnn_encoder_get_type ())
G_DECLARE_FINAL_TYPE (PhysnnEncoder, physnn_encoder, PHYSNN, ENCODER, GObject)

PhysnnEncoder *physnn_encoder_new (PhysnnEncodeMethod method);

gboolean physnn_encoder_validate (PhysnnEncoder *self, GError **error);
guint physnn_encoder_get_outputs_per_input (PhysnnEncoder *self);
gboolean physnn_encoder_has_polarity (PhysnnEncoder *self);
guint physnn_encoder_get_num_steps (PhysnnEncoder *self);

gboolean physnn_encoder_encode (PhysnnEncoder *self, PhysnnDevice *device,
    PhysnnTensor *input, guint n_samples, PhysnnTensor *output, GError **error);
PhysnnTensor *physnn_encoder_encode_new (PhysnnEncoder *self,
    PhysnnDevice *device, PhysnnTensor *input, guint n_samples, GError **error);
void physnn_encoder_reset (PhysnnEncoder *self);
guint64 physnn_encoder_get_step (PhysnnEncoder *self);
guint64 physnn_encoder_get_spike_count (PhysnnEncoder *self);

G_END_DECLS
