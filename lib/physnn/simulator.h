/* physnn — numerical PDE solvers behind the `pdesrc` element: the ground
 * truth for demos, tests and benchmarks.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib-object.h>

#include "physnn/tensor.h"

G_BEGIN_DECLS

/**
 * PhysnnPdeKind:
 * @PHYSNN_PDE_HEAT_1D: u_t = α u_xx (Crank–Nicolson)
 * @PHYSNN_PDE_HEAT_2D: u_t = α (u_xx + u_yy) (Peaceman–Rachford ADI)
 * @PHYSNN_PDE_WAVE_1D: u_tt = c² u_xx (leapfrog, sub-stepped under CFL)
 * @PHYSNN_PDE_BURGERS_1D: u_t + u u_x = ν u_xx (IMEX on a refined grid)
 *
 * The equation a #PhysnnSimulator solves.
 */
typedef enum {
  PHYSNN_PDE_HEAT_1D,
  PHYSNN_PDE_HEAT_2D,
  PHYSNN_PDE_WAVE_1D,
  PHYSNN_PDE_BURGERS_1D,
} PhysnnPdeKind;

/**
 * PhysnnInitialKind:
 * @PHYSNN_INITIAL_DEFAULT: heat and wave: sin(π ξ) (ξ the coordinate mapped
 *   to [0,1], a product over axes in 2-D); Burgers: −sin(π x) on [−1,1]
 * @PHYSNN_INITIAL_SINE: amplitude · sin(mode · π · ξ) (product in 2-D)
 * @PHYSNN_INITIAL_GAUSSIAN: amplitude · exp(−|x − center|² / (2 width²))
 * @PHYSNN_INITIAL_RANDOM: Σ_k a_k sin(k π ξ), k = 1..modes, a_k ~ N(0,
 *   amplitude²/k²) from the seed: smooth random states that satisfy zero
 *   Dirichlet boundaries (training data for operator networks)
 *
 * The initial state u(0, ·) (and for the wave equation u_t(0, ·) = 0).
 */
typedef enum {
  PHYSNN_INITIAL_DEFAULT,
  PHYSNN_INITIAL_SINE,
  PHYSNN_INITIAL_GAUSSIAN,
  PHYSNN_INITIAL_RANDOM,
} PhysnnInitialKind;

/**
 * PhysnnBoundaryKind:
 * @PHYSNN_BOUNDARY_DIRICHLET: fixed values (#PhysnnSimulator:boundary-left,
 *   #PhysnnSimulator:boundary-right; 0 on every side in 2-D)
 * @PHYSNN_BOUNDARY_NEUMANN: zero normal derivative (insulated ends)
 * @PHYSNN_BOUNDARY_PERIODIC: periodic domain (the last grid point is the
 *   neighbour of the first; the grid excludes x-max)
 *
 * Boundary condition on every side of the domain.
 */
typedef enum {
  PHYSNN_BOUNDARY_DIRICHLET,
  PHYSNN_BOUNDARY_NEUMANN,
  PHYSNN_BOUNDARY_PERIODIC,
} PhysnnBoundaryKind;

#define PHYSNN_TYPE_SIMULATOR (physnn_simulator_get_type ())
G_DECLARE_FINAL_TYPE (PhysnnSimulator, physnn_simulator, PHYSNN, SIMULATOR,
    GObject)

PhysnnSimulator *physnn_simulator_new (PhysnnPdeKind pde);

gboolean physnn_simulator_reset (PhysnnSimulator *self, GError **error);
gboolean physnn_simulator_advance (PhysnnSimulator *self, gdouble t,
    GError **error);

PhysnnPdeKind physnn_simulator_get_pde (PhysnnSimulator *self);
guint physnn_simulator_get_ndim (PhysnnSimulator *self);
gdouble physnn_simulator_get_time (PhysnnSimulator *self);
guint64 physnn_simulator_get_steps (PhysnnSimulator *self);
gsize physnn_simulator_get_grid_size (PhysnnSimulator *self, guint axis);
gdouble physnn_simulator_get_coordinate (PhysnnSimulator *self, guint axis,
    gsize index);
gboolean physnn_simulator_get_domain (PhysnnSimulator *self, guint axis,
    gdouble *min, gdouble *max);
PhysnnTensor *physnn_simulator_get_field (PhysnnSimulator *self);
const gdouble *physnn_simulator_peek_field (PhysnnSimulator *self,
    gsize *n_values);
gdouble physnn_simulator_sample (PhysnnSimulator *self, gdouble x,
    gdouble y);
gboolean physnn_simulator_source_active (PhysnnSimulator *self, gdouble x,
    gdouble y, gdouble t);
const gchar *physnn_simulator_get_scheme (PhysnnSimulator *self);

G_END_DECLS
