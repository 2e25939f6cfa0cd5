/* physnn — PhysnnSimulator: finite-difference solvers for the heat, wave and
 * viscous Burgers equations, the ground truth behind `pdesrc`.
 *
 * Grids. A Dirichlet or Neumann axis has n points including both ends,
 * h = (max − min) / (n − 1); a periodic axis excludes max, h = (max − min) / n.
 * The solver runs on an internal grid refined `oversample` times (r) along
 * every axis, so that output point j is internal point j·r and the output is
 * an injection, not an interpolation.
 *
 * Time. advance() splits the interval to the requested time into equal
 * sub-steps no longer than the largest step (dt), so every frame time is hit
 * exactly; an interval is also split where the heat source switches on, so
 * the forcing is constant within each step.
 *
 * Schemes (all second order in time and space):
 *
 *   heat-1d   Crank–Nicolson, (I − k δ²) uⁿ⁺¹ = (I + k δ²) uⁿ + Δt q with
 *             k = α Δt / (2 h²), solved by the Thomas algorithm. Dirichlet
 *             rows hold the boundary values; Neumann ends use the ghost point
 *             u₋₁ = u₁, which makes the trapezoidal integral of u exactly
 *             conserved; periodic grids give a cyclic tridiagonal system,
 *             solved with the Sherman–Morrison correction.
 *   heat-2d   Peaceman–Rachford ADI: a half step implicit along x and
 *             explicit along y, then the reverse, each a set of tridiagonal
 *             solves along rows or columns. Dirichlet is 0 on every side.
 *             Automatic step for both heat schemes: Δt = h²/α, which keeps
 *             Crank–Nicolson's poorly damped high modes (amplification → −1
 *             as k grows) from ringing after rough initial data or the source
 *             switching on, but not below (L/512)²/α so that fine grids stay
 *             affordable. The heat source enters as a known forcing, Δt q in
 *             a Crank–Nicolson step and Δt/2 q in each ADI half step.
 *   wave-1d   Leapfrog, central in time and space, written in its
 *             velocity-Verlet form (kick, drift, kick) so that the step may
 *             change between frames; with a constant step it is identical to
 *             uⁿ⁺¹ = 2uⁿ − uⁿ⁻¹ + (cΔt/h)² δ²uⁿ started by the Taylor step
 *             u¹ = u⁰ + ½ (cΔt/h)² δ²u⁰ that u_t(0) = 0 implies. Stable for
 *             c Δt / h ≤ 1; the step is held to c Δt / h ≤ 0.5.
 *   burgers-1d  Strang splitting: half a Crank–Nicolson diffusion step, a
 *             full SSP-RK3 (Shu–Osher) step of the advection term, half a
 *             diffusion step. The advection term is the conservative,
 *             energy-conserving central flux
 *             F_{i+½} = (u_i² + u_i u_{i+1} + u_{i+1}²) / 6 (the skew-symmetric
 *             split of u u_x), so a viscous shock needs no limiter once the
 *             grid resolves it. The automatic refinement makes the cell
 *             Reynolds number U h / ν ≤ 1/2 (U the largest |u| of the initial
 *             state and boundary values, which Burgers never exceeds) and the
 *             step U Δt / h ≤ 0.5.
 *
 * Measured on the classical Burgers test (u(0,x) = −sin πx on [−1, 1],
 * ν = 0.01/π, 256 output points; the automatic 5× refinement gives 1276
 * internal points and 1276 steps per simulated second) against Cole–Hopf,
 * the relative L2 error on the output grid is 1.6e-5, 2.3e-4, 2.4e-4 and
 * 2.1e-4 at t = 0.25, 0.5, 0.75 and 1 (the shock is steepest near t = 0.5;
 * up to 2.7e-4 with much smaller steps, as space and time errors partly
 * cancel), for about 0.04 s of CPU per simulated second. The error falls as
 * h² (4×: 3.8e-4, 8×: 9.5e-5, 0.1 s) and hardly depends on the step, so the
 * automatic choice spends its effort on space.
 *
 * A simulator is not thread-safe; use it from one thread at a time.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "physnn/simulator.h"
#include "physnn/error.h"
#include "physnn/enums.h"

#include <math.h>
#include <string.h>

/* Output grids above this are not a field for a video frame any more; the
 * limit also keeps index arithmetic far from overflow. */
#define MAX_OUTPUT_POINTS (1u << 20)
#define MAX_INTERNAL_POINTS (1u << 22)
#define MAX_OVERSAMPLE 64
#define MAX_MODES 1024
/* The automatic refinement for Burgers stays within this many points: the
 * cost grows as their square (the step shrinks with h), and 4096 points run
 * in well under a second per simulated second. Stiffer problems (smaller ν,
 * larger |u|) need an explicit oversample. */
#define BURGERS_AUTO_MAX_POINTS 4096
#define BURGERS_CELL_REYNOLDS 0.5
#define BURGERS_CFL 0.5
#define WAVE_CFL 0.5
/* A single advance() that would take longer is refused rather than left to
 * run for hours. */
#define MAX_STEPS_PER_ADVANCE 1e8
/* How often the field is checked for NaN and Inf during an advance. */
#define FINITE_CHECK_INTERVAL 64

typedef struct {
  PhysnnPdeKind pde;
  gdouble x_min, x_max, y_min, y_max;
  guint nx, ny;
  gdouble alpha, c, nu, dt;
  PhysnnInitialKind initial;
  gdouble amplitude;
  guint mode;
  gdouble center_x, center_y, width;
  guint modes;
  guint64 seed;
  PhysnnBoundaryKind boundary;
  gdouble boundary_left, boundary_right;
  gdouble source_x, source_y, source_start, source_amplitude, source_width;
  guint oversample;
} Params;

/* The output grid as the parameters define it. */
typedef struct {
  guint ndim;
  gdouble lo[2], hi[2];
  gsize n[2]; /* n[1] = 1 in 1-D */
  gdouble h[2];
} Geometry;

/* The factorisation of I − k δ² along one axis, reused for every line and
 * every step of the same length. */
typedef struct {
  gsize n;
  gboolean cyclic;
  gdouble *a;   /* sub-diagonal */
  gdouble *cp;  /* super-diagonal divided by the pivot */
  gdouble *inv; /* reciprocal pivots */
  gdouble *z;   /* cyclic: Sherman–Morrison correction */
  gdouble va, den;
} Tridiag;

struct _PhysnnSimulator {
  GObject parent;

  Params props; /* as set; applied by reset() */
  Params run;   /* in force since the last reset() */
  gboolean ready;
  gboolean failed; /* the field went non-finite */
  gdouble fail_time;

  Geometry geo;
  guint r;
  gsize ni[2];   /* internal points per axis */
  gdouble hi[2]; /* internal spacing */
  gsize n_internal;
  gdouble dt_max; /* INFINITY: one step per interval */
  gdouble t;
  guint64 steps;

  gdouble *u;
  gdouble *v;   /* wave: velocity */
  gdouble *acc; /* wave: acceleration c² δ²u / h² */
  gdouble *w1, *w2, *w3;
  gdouble *q; /* heat source, zero on Dirichlet nodes */
  gdouble *out;
  gdouble *colbuf; /* heat-2d: per-column work */
  gdouble *coef;   /* random initial state */

  Tridiag tx, ty;
  gdouble tri_dt; /* the step tx and ty are factored for */

  gchar *scheme;
};

enum {
  PROP_0,
  PROP_PDE,
  PROP_X_MIN,
  PROP_X_MAX,
  PROP_Y_MIN,
  PROP_Y_MAX,
  PROP_NX,
  PROP_NY,
  PROP_ALPHA,
  PROP_C,
  PROP_NU,
  PROP_DT,
  PROP_INITIAL,
  PROP_AMPLITUDE,
  PROP_MODE,
  PROP_CENTER_X,
  PROP_CENTER_Y,
  PROP_WIDTH,
  PROP_MODES,
  PROP_SEED,
  PROP_BOUNDARY,
  PROP_BOUNDARY_LEFT,
  PROP_BOUNDARY_RIGHT,
  PROP_SOURCE_X,
  PROP_SOURCE_Y,
  PROP_SOURCE_START,
  PROP_SOURCE_AMPLITUDE,
  PROP_SOURCE_WIDTH,
  PROP_OVERSAMPLE,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (PhysnnSimulator, physnn_simulator, G_TYPE_OBJECT)

#define DEFAULT_ALPHA 0.1
#define DEFAULT_C 1.0
#define DEFAULT_NU (0.01 / G_PI)

static const gchar *
pde_name (PhysnnPdeKind pde)
{
  switch (pde) {
  case PHYSNN_PDE_HEAT_1D:
    return "heat-1d";
  case PHYSNN_PDE_HEAT_2D:
    return "heat-2d";
  case PHYSNN_PDE_WAVE_1D:
    return "wave-1d";
  case PHYSNN_PDE_BURGERS_1D:
    return "burgers-1d";
  }
  return "unknown";
}

static const gchar *
boundary_name (PhysnnBoundaryKind bc)
{
  switch (bc) {
  case PHYSNN_BOUNDARY_DIRICHLET:
    return "Dirichlet";
  case PHYSNN_BOUNDARY_NEUMANN:
    return "Neumann";
  case PHYSNN_BOUNDARY_PERIODIC:
    return "periodic";
  }
  return "unknown";
}

static const gchar *
base_scheme (PhysnnPdeKind pde)
{
  switch (pde) {
  case PHYSNN_PDE_HEAT_1D:
    return "heat-1d: Crank–Nicolson, second order in time and space, "
           "Thomas tridiagonal solve (cyclic with Sherman–Morrison when "
           "periodic)";
  case PHYSNN_PDE_HEAT_2D:
    return "heat-2d: Peaceman–Rachford ADI, second order in time and "
           "space, tridiagonal solves along rows then columns";
  case PHYSNN_PDE_WAVE_1D:
    return "wave-1d: leapfrog (central in time and space, velocity-Verlet "
           "form, Taylor start from u_t = 0), second order, CFL c·dt/h ≤ 0.5";
  case PHYSNN_PDE_BURGERS_1D:
    return "burgers-1d: Strang splitting of Crank–Nicolson diffusion and "
           "SSP-RK3 advection with the skew-symmetric conservative central "
           "flux, second order, on a refined internal grid";
  }
  return "unknown";
}

static guint
pde_ndim (PhysnnPdeKind pde)
{
  return pde == PHYSNN_PDE_HEAT_2D ? 2 : 1;
}

static void
geometry_from_params (const Params *p, Geometry *g)
{
  gboolean periodic = p->boundary == PHYSNN_BOUNDARY_PERIODIC;

  memset (g, 0, sizeof (*g));
  g->ndim = pde_ndim (p->pde);
  /* min = max selects the natural interval, so that a default-constructed
   * Burgers simulator solves the classical problem on [−1, 1] however it
   * was created (and an element mirroring the defaults does the same). */
  if (p->x_min == p->x_max) {
    g->lo[0] = p->pde == PHYSNN_PDE_BURGERS_1D ? -1.0 : 0.0;
    g->hi[0] = 1.0;
  } else {
    g->lo[0] = p->x_min;
    g->hi[0] = p->x_max;
  }
  g->n[0] = p->nx ? p->nx : (g->ndim == 2 ? 64 : 256);
  if (g->ndim == 2) {
    if (p->y_min == p->y_max) {
      g->lo[1] = 0.0;
      g->hi[1] = 1.0;
    } else {
      g->lo[1] = p->y_min;
      g->hi[1] = p->y_max;
    }
    g->n[1] = p->ny;
  } else {
    g->lo[1] = g->hi[1] = 0.0;
    g->n[1] = 1;
  }
  for (guint a = 0; a < g->ndim; a++) {
    gsize cells = periodic ? g->n[a] : g->n[a] - 1;
    g->h[a] = cells > 0 ? (g->hi[a] - g->lo[a]) / cells : 0.0;
  }
}

static void
current_geometry (PhysnnSimulator *self, Geometry *g)
{
  if (self->ready)
    *g = self->geo;
  else
    geometry_from_params (&self->props, g);
}

static const Params *
current_params (PhysnnSimulator *self)
{
  return self->ready ? &self->run : &self->props;
}

/* ------------------------------------------------------------------------ */
/* Tridiagonal systems (I − k δ²) x = d */

static void
tridiag_clear (Tridiag *t)
{
  g_clear_pointer (&t->a, g_free);
  g_clear_pointer (&t->cp, g_free);
  g_clear_pointer (&t->inv, g_free);
  g_clear_pointer (&t->z, g_free);
  t->n = 0;
}

static void
tridiag_alloc (Tridiag *t, gsize n, PhysnnBoundaryKind bc)
{
  tridiag_clear (t);
  t->n = n;
  t->cyclic = bc == PHYSNN_BOUNDARY_PERIODIC;
  t->a = g_new (gdouble, n);
  t->cp = g_new (gdouble, n);
  t->inv = g_new (gdouble, n);
  if (t->cyclic)
    t->z = g_new (gdouble, n);
}

static void
tridiag_solve (const Tridiag *t, gdouble *d)
{
  gsize n = t->n;

  d[0] *= t->inv[0];
  for (gsize i = 1; i < n; i++)
    d[i] = (d[i] - t->a[i] * d[i - 1]) * t->inv[i];
  for (gsize i = n - 1; i-- > 0;)
    d[i] -= t->cp[i] * d[i + 1];
  if (t->cyclic) {
    gdouble f = (d[0] + t->va * d[n - 1]) / t->den;
    for (gsize i = 0; i < n; i++)
      d[i] -= f * t->z[i];
  }
}

/* Solves m systems at once whose element j lies at d[j·m + i]: sweeping
 * whole rows keeps the column solves of a 2-D grid cache-friendly. */
static void
tridiag_solve_columns (const Tridiag *t, gdouble *d, gsize m, gdouble *work)
{
  gsize n = t->n;

  for (gsize i = 0; i < m; i++)
    d[i] *= t->inv[0];
  for (gsize j = 1; j < n; j++) {
    gdouble a = t->a[j], inv = t->inv[j];
    gdouble *row = d + j * m, *prev = row - m;
    for (gsize i = 0; i < m; i++)
      row[i] = (row[i] - a * prev[i]) * inv;
  }
  for (gsize j = n - 1; j-- > 0;) {
    gdouble cp = t->cp[j];
    gdouble *row = d + j * m, *next = row + m;
    for (gsize i = 0; i < m; i++)
      row[i] -= cp * next[i];
  }
  if (t->cyclic) {
    gdouble *last = d + (n - 1) * m;
    for (gsize i = 0; i < m; i++)
      work[i] = (d[i] + t->va * last[i]) / t->den;
    for (gsize j = 0; j < n; j++) {
      gdouble z = t->z[j];
      gdouble *row = d + j * m;
      for (gsize i = 0; i < m; i++)
        row[i] -= work[i] * z;
    }
  }
}

/* Factors I − k δ² for the boundary condition of the allocation. The
 * rows are those of second_diff(): Dirichlet rows are the identity (the
 * right-hand side carries the boundary value), Neumann rows use the ghost
 * point u₋₁ = u₁. */
static void
tridiag_factor (Tridiag *t, PhysnnBoundaryKind bc, gdouble k)
{
  gsize n = t->n;
  gdouble *a = t->a, *c = t->cp, *b = t->inv;
  gdouble alpha = 0.0, beta = 0.0, gamma = 0.0;

  for (gsize i = 0; i < n; i++) {
    a[i] = -k;
    b[i] = 1.0 + 2.0 * k;
    c[i] = -k;
  }
  switch (bc) {
  case PHYSNN_BOUNDARY_DIRICHLET:
    a[0] = c[0] = a[n - 1] = c[n - 1] = 0.0;
    b[0] = b[n - 1] = 1.0;
    break;
  case PHYSNN_BOUNDARY_NEUMANN:
    a[0] = 0.0;
    c[0] = -2.0 * k;
    a[n - 1] = -2.0 * k;
    c[n - 1] = 0.0;
    break;
  case PHYSNN_BOUNDARY_PERIODIC:
    /* Sherman–Morrison: A = A' + u vᵀ with u = (γ, 0, …, 0, β) and
     * v = (1, 0, …, 0, α/γ); γ = −b₀ keeps A' diagonally dominant. */
    alpha = a[0];
    beta = c[n - 1];
    gamma = -b[0];
    b[0] -= gamma;
    b[n - 1] -= alpha * beta / gamma;
    a[0] = 0.0;
    c[n - 1] = 0.0;
    break;
  }
  for (gsize i = 0; i < n; i++) {
    gdouble pivot = b[i] - (i > 0 ? a[i] * c[i - 1] : 0.0);
    b[i] = 1.0 / pivot;
    c[i] *= b[i];
  }
  if (t->cyclic) {
    t->cyclic = FALSE;
    memset (t->z, 0, n * sizeof (gdouble));
    t->z[0] = gamma;
    t->z[n - 1] = beta;
    tridiag_solve (t, t->z);
    t->cyclic = TRUE;
    t->va = alpha / gamma;
    t->den = 1.0 + t->z[0] + t->va * t->z[n - 1];
  }
}

/* ------------------------------------------------------------------------ */
/* Difference operators */

/* δ²u along a contiguous line; zero on Dirichlet ends, which therefore keep
 * their value in every scheme. */
static void
second_diff (const gdouble *u, gdouble *out, gsize n, PhysnnBoundaryKind bc)
{
  for (gsize i = 1; i + 1 < n; i++)
    out[i] = u[i - 1] - 2.0 * u[i] + u[i + 1];
  switch (bc) {
  case PHYSNN_BOUNDARY_DIRICHLET:
    out[0] = out[n - 1] = 0.0;
    break;
  case PHYSNN_BOUNDARY_NEUMANN:
    out[0] = 2.0 * (u[1] - u[0]);
    out[n - 1] = 2.0 * (u[n - 2] - u[n - 1]);
    break;
  case PHYSNN_BOUNDARY_PERIODIC:
    out[0] = u[n - 1] - 2.0 * u[0] + u[1];
    out[n - 1] = u[n - 2] - 2.0 * u[n - 1] + u[0];
    break;
  }
}

/* δ²u along y of an ny × nx grid stored row by row. */
static void
second_diff_columns (
    const gdouble *u, gdouble *out, gsize ny, gsize nx, PhysnnBoundaryKind bc)
{
  for (gsize j = 0; j < ny; j++) {
    const gdouble *row = u + j * nx, *below, *above;
    gdouble *o = out + j * nx;
    if (j == 0 || j == ny - 1) {
      if (bc == PHYSNN_BOUNDARY_DIRICHLET) {
        memset (o, 0, nx * sizeof (gdouble));
        continue;
      }
      if (bc == PHYSNN_BOUNDARY_NEUMANN) {
        const gdouble *in = u + (j == 0 ? nx : (ny - 2) * nx);
        for (gsize i = 0; i < nx; i++)
          o[i] = 2.0 * (in[i] - row[i]);
        continue;
      }
      below = u + (j == 0 ? ny - 1 : j - 1) * nx;
      above = u + (j == ny - 1 ? 0 : j + 1) * nx;
    } else {
      below = row - nx;
      above = row + nx;
    }
    for (gsize i = 0; i < nx; i++)
      o[i] = below[i] - 2.0 * row[i] + above[i];
  }
}

/* −∂(u²/2)/∂x as the difference of the fluxes
 * F_{i+½} = (u_i² + u_i u_{i+1} + u_{i+1}²) / 6, which equals
 * −(u_{i−1} + u_i + u_{i+1}) (u_{i+1} − u_{i−1}) / (6h): conservative and,
 * being the skew-symmetric split, free of the energy growth of the plain
 * flux form. Dirichlet and Neumann ends do not move under advection. */
static void
advection (
    const gdouble *u, gdouble *out, gsize n, gdouble h, PhysnnBoundaryKind bc)
{
  gdouble f = -1.0 / (6.0 * h);

  for (gsize i = 1; i + 1 < n; i++)
    out[i] = f * (u[i - 1] + u[i] + u[i + 1]) * (u[i + 1] - u[i - 1]);
  if (bc == PHYSNN_BOUNDARY_PERIODIC) {
    out[0] = f * (u[n - 1] + u[0] + u[1]) * (u[1] - u[n - 1]);
    out[n - 1] = f * (u[n - 2] + u[n - 1] + u[0]) * (u[0] - u[n - 2]);
  } else {
    out[0] = out[n - 1] = 0.0;
  }
}

/* NaN·0 and Inf·0 are NaN, finite·0 is 0: one vectorisable pass. */
static gboolean
all_finite (const gdouble *u, gsize n)
{
  gdouble s = 0.0;
  for (gsize i = 0; i < n; i++)
    s += u[i] * 0.0;
  return s == 0.0;
}

/* ------------------------------------------------------------------------ */
/* Time steps */

static void
ensure_factored (PhysnnSimulator *self, gdouble dt)
{
  const Params *p = &self->run;
  PhysnnBoundaryKind bc = p->boundary;

  if (dt == self->tri_dt)
    return;
  switch (p->pde) {
  case PHYSNN_PDE_HEAT_1D:
    tridiag_factor (
        &self->tx, bc, 0.5 * dt * p->alpha / (self->hi[0] * self->hi[0]));
    break;
  case PHYSNN_PDE_HEAT_2D:
    tridiag_factor (
        &self->tx, bc, 0.5 * dt * p->alpha / (self->hi[0] * self->hi[0]));
    tridiag_factor (
        &self->ty, bc, 0.5 * dt * p->alpha / (self->hi[1] * self->hi[1]));
    break;
  case PHYSNN_PDE_BURGERS_1D:
    /* Each half step of the splitting is a Crank–Nicolson step of Δt/2. */
    tridiag_factor (
        &self->tx, bc, 0.25 * dt * p->nu / (self->hi[0] * self->hi[0]));
    break;
  case PHYSNN_PDE_WAVE_1D:
    break;
  }
  self->tri_dt = dt;
}

static void
swap (gdouble **a, gdouble **b)
{
  gdouble *tmp = *a;
  *a = *b;
  *b = tmp;
}

static void
step_heat_1d (PhysnnSimulator *self, gdouble dt, gboolean source_on)
{
  gsize n = self->ni[0];
  gdouble k = 0.5 * dt * self->run.alpha / (self->hi[0] * self->hi[0]);
  gdouble *u = self->u, *rhs = self->w1;

  second_diff (u, rhs, n, self->run.boundary);
  if (source_on) {
    for (gsize i = 0; i < n; i++)
      rhs[i] = u[i] + k * rhs[i] + dt * self->q[i];
  } else {
    for (gsize i = 0; i < n; i++)
      rhs[i] = u[i] + k * rhs[i];
  }
  tridiag_solve (&self->tx, rhs);
  swap (&self->u, &self->w1);
}

static void
step_heat_2d (PhysnnSimulator *self, gdouble dt, gboolean source_on)
{
  gsize nx = self->ni[0], ny = self->ni[1], n = nx * ny;
  PhysnnBoundaryKind bc = self->run.boundary;
  gdouble kx = 0.5 * dt * self->run.alpha / (self->hi[0] * self->hi[0]);
  gdouble ky = 0.5 * dt * self->run.alpha / (self->hi[1] * self->hi[1]);
  gdouble hdt = 0.5 * dt;
  gdouble *u = self->u, *half = self->w1, *rhs = self->w2;

  /* (I − kx δx²) u* = (I + ky δy²) uⁿ + Δt/2 q */
  second_diff_columns (u, half, ny, nx, bc);
  for (gsize p = 0; p < n; p++)
    half[p] = u[p] + ky * half[p] + (source_on ? hdt * self->q[p] : 0.0);
  for (gsize j = 0; j < ny; j++)
    tridiag_solve (&self->tx, half + j * nx);

  /* (I − ky δy²) uⁿ⁺¹ = (I + kx δx²) u* + Δt/2 q */
  for (gsize j = 0; j < ny; j++)
    second_diff (half + j * nx, rhs + j * nx, nx, bc);
  for (gsize p = 0; p < n; p++)
    rhs[p] = half[p] + kx * rhs[p] + (source_on ? hdt * self->q[p] : 0.0);
  tridiag_solve_columns (&self->ty, rhs, nx, self->colbuf);
  swap (&self->u, &self->w2);
}

static void
wave_acceleration (PhysnnSimulator *self)
{
  gsize n = self->ni[0];
  gdouble s = self->run.c * self->run.c / (self->hi[0] * self->hi[0]);

  second_diff (self->u, self->acc, n, self->run.boundary);
  for (gsize i = 0; i < n; i++)
    self->acc[i] *= s;
}

static void
step_wave (PhysnnSimulator *self, gdouble dt)
{
  gsize n = self->ni[0];
  gdouble *u = self->u, *v = self->v, *a = self->acc;

  for (gsize i = 0; i < n; i++) {
    v[i] += 0.5 * dt * a[i];
    u[i] += dt * v[i];
  }
  wave_acceleration (self);
  for (gsize i = 0; i < n; i++)
    v[i] += 0.5 * dt * a[i];
}

static void
burgers_diffusion_half (PhysnnSimulator *self, gdouble dt)
{
  gsize n = self->ni[0];
  gdouble k = 0.25 * dt * self->run.nu / (self->hi[0] * self->hi[0]);
  gdouble *u = self->u, *rhs = self->w1;

  second_diff (u, rhs, n, self->run.boundary);
  for (gsize i = 0; i < n; i++)
    rhs[i] = u[i] + k * rhs[i];
  tridiag_solve (&self->tx, rhs);
  swap (&self->u, &self->w1);
}

static void
step_burgers (PhysnnSimulator *self, gdouble dt)
{
  gsize n = self->ni[0];
  gdouble h = self->hi[0];
  PhysnnBoundaryKind bc = self->run.boundary;
  gdouble *u, *f, *u1 = self->w2, *u2 = self->w3;

  burgers_diffusion_half (self, dt);
  /* Shu–Osher SSP-RK3; w1 is free between the diffusion half steps (which
   * swap it with u). */
  u = self->u;
  f = self->w1;
  advection (u, f, n, h, bc);
  for (gsize i = 0; i < n; i++)
    u1[i] = u[i] + dt * f[i];
  advection (u1, f, n, h, bc);
  for (gsize i = 0; i < n; i++)
    u2[i] = 0.75 * u[i] + 0.25 * (u1[i] + dt * f[i]);
  advection (u2, f, n, h, bc);
  for (gsize i = 0; i < n; i++)
    u[i] = (u[i] + 2.0 * (u2[i] + dt * f[i])) / 3.0;
  burgers_diffusion_half (self, dt);
}

static void
step (PhysnnSimulator *self, gdouble dt, gboolean source_on)
{
  switch (self->run.pde) {
  case PHYSNN_PDE_HEAT_1D:
    step_heat_1d (self, dt, source_on);
    break;
  case PHYSNN_PDE_HEAT_2D:
    step_heat_2d (self, dt, source_on);
    break;
  case PHYSNN_PDE_WAVE_1D:
    step_wave (self, dt);
    break;
  case PHYSNN_PDE_BURGERS_1D:
    step_burgers (self, dt);
    break;
  }
}

static gboolean
state_finite (PhysnnSimulator *self)
{
  if (!all_finite (self->u, self->n_internal))
    return FALSE;
  return self->v == NULL || all_finite (self->v, self->n_internal);
}

static void
update_output (PhysnnSimulator *self)
{
  gsize nx = self->geo.n[0], ny = self->geo.n[1], r = self->r;

  for (gsize j = 0; j < ny; j++)
    for (gsize i = 0; i < nx; i++)
      self->out[j * nx + i] = self->u[j * r * self->ni[0] + i * r];
}

/* ------------------------------------------------------------------------ */
/* Reset */

static void
free_state (PhysnnSimulator *self)
{
  g_clear_pointer (&self->u, g_free);
  g_clear_pointer (&self->v, g_free);
  g_clear_pointer (&self->acc, g_free);
  g_clear_pointer (&self->w1, g_free);
  g_clear_pointer (&self->w2, g_free);
  g_clear_pointer (&self->w3, g_free);
  g_clear_pointer (&self->q, g_free);
  g_clear_pointer (&self->out, g_free);
  g_clear_pointer (&self->colbuf, g_free);
  g_clear_pointer (&self->coef, g_free);
  g_clear_pointer (&self->scheme, g_free);
  tridiag_clear (&self->tx);
  tridiag_clear (&self->ty);
  self->ready = FALSE;
  self->failed = FALSE;
}

#define INVALID(...)                                                           \
  G_STMT_START                                                                 \
  {                                                                            \
    g_set_error (                                                              \
        error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT, __VA_ARGS__);      \
    return FALSE;                                                              \
  }                                                                            \
  G_STMT_END

static gboolean
check_positive (
    const gchar *name, gdouble value, const gchar *what, GError **error)
{
  if (!(value > 0.0) || !isfinite (value))
    INVALID ("%s = %g is invalid: %s must be positive and finite", name, value,
        what);
  return TRUE;
}

static gboolean
check_finite (const gchar *name, gdouble value, GError **error)
{
  if (!isfinite (value))
    INVALID ("%s = %g is invalid: it must be a finite number", name, value);
  return TRUE;
}

static gboolean
validate (const Params *p, const Geometry *g, GError **error)
{
  static const gchar *axis_name[2] = { "x", "y" };
  static const gchar *n_name[2] = { "nx", "ny" };
  gboolean heat = p->pde == PHYSNN_PDE_HEAT_1D || p->pde == PHYSNN_PDE_HEAT_2D;

  if (p->nx == 1 || p->nx == 2)
    INVALID ("nx = %u is too small: at least 3 grid points are needed "
             "(0 selects %u)",
        p->nx, g->ndim == 2 ? 64 : 256);
  for (guint a = 0; a < g->ndim; a++) {
    if (g->n[a] < 3)
      INVALID ("%s = %" G_GSIZE_FORMAT " is too small: at least 3 grid "
               "points are needed",
          n_name[a], g->n[a]);
    if (!isfinite (g->lo[a]) || !isfinite (g->hi[a]) ||
        !(g->hi[a] > g->lo[a]) || !isfinite (g->hi[a] - g->lo[a]))
      INVALID ("%s-min = %g and %s-max = %g do not make a domain: %s-max "
               "must be greater than %s-min, both finite (equal values select "
               "the default interval)",
          axis_name[a], g->lo[a], axis_name[a], g->hi[a], axis_name[a],
          axis_name[a]);
  }
  if (g->n[0] > MAX_OUTPUT_POINTS / g->n[1])
    INVALID ("%" G_GSIZE_FORMAT " × %" G_GSIZE_FORMAT " = %" G_GUINT64_FORMAT
             " grid points is too many: at most %u",
        g->n[0], g->n[1], (guint64)g->n[0] * g->n[1], MAX_OUTPUT_POINTS);

  switch (p->pde) {
  case PHYSNN_PDE_HEAT_1D:
  case PHYSNN_PDE_HEAT_2D:
    if (!check_positive ("alpha", p->alpha, "the diffusivity", error))
      return FALSE;
    break;
  case PHYSNN_PDE_WAVE_1D:
    if (!check_positive ("c", p->c, "the wave speed", error))
      return FALSE;
    break;
  case PHYSNN_PDE_BURGERS_1D:
    if (!check_positive ("nu", p->nu, "the viscosity", error))
      return FALSE;
    break;
  }
  if (p->dt < 0.0 || !isfinite (p->dt))
    INVALID ("dt = %g is invalid: the largest time step must be positive "
             "and finite (0 selects it automatically)",
        p->dt);
  if (!check_finite ("amplitude", p->amplitude, error) ||
      !check_finite ("center-x", p->center_x, error) ||
      !check_finite ("center-y", p->center_y, error) ||
      !check_finite ("boundary-left", p->boundary_left, error) ||
      !check_finite ("boundary-right", p->boundary_right, error) ||
      !check_finite ("source-x", p->source_x, error) ||
      !check_finite ("source-y", p->source_y, error) ||
      !check_finite ("source-start", p->source_start, error) ||
      !check_finite ("source-amplitude", p->source_amplitude, error))
    return FALSE;
  if (p->initial == PHYSNN_INITIAL_GAUSSIAN &&
      !check_positive ("width", p->width, "the Gaussian width", error))
    return FALSE;
  if (g->ndim == 2 && p->boundary == PHYSNN_BOUNDARY_DIRICHLET &&
      (p->boundary_left != 0.0 || p->boundary_right != 0.0))
    INVALID ("boundary-left = %g, boundary-right = %g: in 2-D the Dirichlet "
             "boundary is 0 on every side",
        p->boundary_left, p->boundary_right);
  if (p->source_amplitude != 0.0) {
    if (!heat)
      INVALID ("source-amplitude = %g: a heat source is only modelled for "
               "heat-1d and heat-2d, not %s (set it to 0)",
          p->source_amplitude, pde_name (p->pde));
    if (!check_positive (
            "source-width", p->source_width, "the source width", error))
      return FALSE;
  }
  if (p->oversample > MAX_OVERSAMPLE)
    INVALID ("oversample = %u is too large: at most %u (0 selects it "
             "automatically)",
        p->oversample, MAX_OVERSAMPLE);
  return TRUE;
}

/* Normal deviates by Box–Muller; 1 − U avoids log (0). */
static gdouble
rand_normal (GRand *rand)
{
  gdouble u1 = 1.0 - g_rand_double (rand);
  gdouble u2 = g_rand_double (rand);
  return sqrt (-2.0 * log (u1)) * cos (2.0 * G_PI * u2);
}

static GRand *
rand_new_seeded (guint64 seed)
{
  guint32 words[2] = { (guint32)seed, (guint32)(seed >> 32) };
  return g_rand_new_with_seed_array (words, 2);
}

/* The coefficients of the random initial state, drawn in a fixed order so
 * that a seed always gives the same state. */
static gdouble *
make_random_coefficients (const Params *p, guint ndim)
{
  guint m = p->modes;
  GRand *rand = rand_new_seeded (p->seed);
  gdouble *coef;

  if (ndim == 1) {
    coef = g_new (gdouble, m);
    for (guint k = 1; k <= m; k++)
      coef[k - 1] = p->amplitude / k * rand_normal (rand);
  } else {
    coef = g_new (gdouble, (gsize)m * m);
    for (guint k = 1; k <= m; k++)
      for (guint l = 1; l <= m; l++)
        coef[(k - 1) * m + (l - 1)] = p->amplitude /
                                      sqrt ((gdouble)k * k + (gdouble)l * l) *
                                      rand_normal (rand);
  }
  g_rand_free (rand);
  return coef;
}

static gdouble
initial_value (const Params *p, const Geometry *g, const gdouble *coef,
    gdouble x, gdouble y)
{
  gboolean two_d = g->ndim == 2;
  gdouble xi = (x - g->lo[0]) / (g->hi[0] - g->lo[0]);
  gdouble eta = two_d ? (y - g->lo[1]) / (g->hi[1] - g->lo[1]) : 0.0;
  gdouble v = 0.0;

  switch (p->initial) {
  case PHYSNN_INITIAL_DEFAULT:
    if (p->pde == PHYSNN_PDE_BURGERS_1D)
      return -sin (G_PI * (2.0 * xi - 1.0));
    v = sin (G_PI * xi);
    return two_d ? v * sin (G_PI * eta) : v;
  case PHYSNN_INITIAL_SINE:
    v = p->amplitude * sin (p->mode * G_PI * xi);
    return two_d ? v * sin (p->mode * G_PI * eta) : v;
  case PHYSNN_INITIAL_GAUSSIAN: {
    gdouble dx = x - p->center_x, dy = two_d ? y - p->center_y : 0.0;
    return p->amplitude *
           exp (-(dx * dx + dy * dy) / (2.0 * p->width * p->width));
  }
  case PHYSNN_INITIAL_RANDOM:
    if (!two_d) {
      for (guint k = 1; k <= p->modes; k++)
        v += coef[k - 1] * sin (k * G_PI * xi);
    } else {
      for (guint k = 1; k <= p->modes; k++) {
        gdouble sx = sin (k * G_PI * xi);
        for (guint l = 1; l <= p->modes; l++)
          v += coef[(k - 1) * p->modes + (l - 1)] * sx * sin (l * G_PI * eta);
      }
    }
    return v;
  }
  return 0.0;
}

static void
impose_dirichlet (PhysnnSimulator *self)
{
  gsize nx = self->ni[0], ny = self->ni[1];

  if (self->run.boundary != PHYSNN_BOUNDARY_DIRICHLET)
    return;
  if (self->geo.ndim == 1) {
    self->u[0] = self->run.boundary_left;
    self->u[nx - 1] = self->run.boundary_right;
    return;
  }
  for (gsize i = 0; i < nx; i++)
    self->u[i] = self->u[(ny - 1) * nx + i] = 0.0;
  for (gsize j = 0; j < ny; j++)
    self->u[j * nx] = self->u[j * nx + nx - 1] = 0.0;
}

static gboolean
is_dirichlet_node (PhysnnSimulator *self, gsize i, gsize j)
{
  if (self->run.boundary != PHYSNN_BOUNDARY_DIRICHLET)
    return FALSE;
  if (i == 0 || i == self->ni[0] - 1)
    return TRUE;
  return self->geo.ndim == 2 && (j == 0 || j == self->ni[1] - 1);
}

/* Largest |u| of the initial state on the output grid and of the boundary
 * values: by the maximum principle a bound on |u| for all time in Burgers. */
static gdouble
burgers_speed (const Params *p, const Geometry *g, const gdouble *coef)
{
  gdouble m = 0.0;

  for (gsize i = 0; i < g->n[0]; i++)
    m = MAX (m, fabs (initial_value (p, g, coef, g->lo[0] + i * g->h[0], 0.0)));
  if (p->boundary == PHYSNN_BOUNDARY_DIRICHLET)
    m = MAX (m, MAX (fabs (p->boundary_left), fabs (p->boundary_right)));
  return m;
}

/* Returns the refinement factor, or 0 when the internal grid would be too
 * large. */
static guint
choose_oversample (
    const Params *p, const Geometry *g, const gdouble *coef, GError **error)
{
  gboolean periodic = p->boundary == PHYSNN_BOUNDARY_PERIODIC;
  guint r = p->oversample;

  if (r == 0) {
    r = 1;
    if (p->pde == PHYSNN_PDE_BURGERS_1D) {
      gsize cells = periodic ? g->n[0] : g->n[0] - 1;
      gsize max_r = MAX ((BURGERS_AUTO_MAX_POINTS - 1) / cells, 1);
      gdouble want = ceil (burgers_speed (p, g, coef) * g->h[0] /
                               (p->nu * BURGERS_CELL_REYNOLDS) -
                           1e-9);
      if (want > 1.0)
        r = (guint)MIN (want, (gdouble)MIN (max_r, MAX_OVERSAMPLE));
    }
  }
  gsize total = 1;
  for (guint a = 0; a < g->ndim; a++) {
    gsize c = periodic ? g->n[a] : g->n[a] - 1;
    gsize n = c * r + (periodic ? 0 : 1);
    if (n > MAX_INTERNAL_POINTS / total) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
          "oversample = %u makes the internal grid too large: at most %u "
          "points",
          r, MAX_INTERNAL_POINTS);
      return 0;
    }
    total *= n;
  }
  return r;
}

static gdouble
choose_dt (PhysnnSimulator *self)
{
  const Params *p = &self->run;
  const Geometry *g = &self->geo;
  gdouble h = self->hi[0], limit = INFINITY, dt;

  if (g->ndim == 2)
    h = MIN (h, self->hi[1]);
  switch (p->pde) {
  case PHYSNN_PDE_HEAT_1D:
  case PHYSNN_PDE_HEAT_2D: {
    gdouble l = g->hi[0] - g->lo[0];
    if (g->ndim == 2)
      l = MIN (l, g->hi[1] - g->lo[1]);
    dt = MAX (h * h, l * l / (512.0 * 512.0)) / p->alpha;
    break;
  }
  case PHYSNN_PDE_WAVE_1D:
    dt = limit = WAVE_CFL * h / p->c;
    break;
  case PHYSNN_PDE_BURGERS_1D: {
    gdouble speed = 0.0;
    for (gsize i = 0; i < self->n_internal; i++)
      speed = MAX (speed, fabs (self->u[i]));
    /* A zero field stays zero: any step is exact. */
    dt = limit = speed > 0.0 ? BURGERS_CFL * h / speed : INFINITY;
    break;
  }
  default:
    dt = INFINITY;
  }
  if (p->dt > 0.0)
    dt = MIN (p->dt, limit);
  return dt;
}

/**
 * physnn_simulator_reset:
 * @self: a #PhysnnSimulator
 * @error: return location for a #GError
 *
 * Applies the current properties and sets the field to the initial state
 * at t = 0. Property changes take effect here and nowhere else, so a running
 * simulation is never altered half way.
 *
 * Every property is validated first; on failure the simulator keeps its
 * previous state and @error (%PHYSNN_ERROR_INVALID_ARGUMENT) names the
 * property and the accepted range.
 *
 * Returns: %TRUE on success
 */
gboolean
physnn_simulator_reset (PhysnnSimulator *self, GError **error)
{
  Geometry g;
  guint r;

  g_return_val_if_fail (PHYSNN_IS_SIMULATOR (self), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  geometry_from_params (&self->props, &g);
  if (!validate (&self->props, &g, error))
    return FALSE;
  /* Nothing changes until the new configuration is known to work. */
  gdouble *coef = NULL;
  if (self->props.initial == PHYSNN_INITIAL_RANDOM)
    coef = make_random_coefficients (&self->props, g.ndim);
  r = choose_oversample (&self->props, &g, coef, error);
  if (r == 0) {
    g_free (coef);
    return FALSE;
  }

  free_state (self);
  self->coef = coef;
  self->run = self->props;
  self->geo = g;
  self->r = r;

  gboolean periodic = self->run.boundary == PHYSNN_BOUNDARY_PERIODIC;
  self->ni[1] = 1;
  self->hi[1] = 0.0;
  for (guint a = 0; a < g.ndim; a++) {
    gsize c = periodic ? g.n[a] : g.n[a] - 1;
    self->ni[a] = c * r + (periodic ? 0 : 1);
    self->hi[a] = (g.hi[a] - g.lo[a]) / (gdouble)(c * r);
  }
  gsize n = self->n_internal = self->ni[0] * self->ni[1];

  self->u = g_new (gdouble, n);
  self->w1 = g_new (gdouble, n);
  self->out = g_new (gdouble, g.n[0] * g.n[1]);
  switch (self->run.pde) {
  case PHYSNN_PDE_HEAT_2D:
    self->w2 = g_new (gdouble, n);
    self->colbuf = g_new (gdouble, self->ni[0]);
    tridiag_alloc (&self->ty, self->ni[1], self->run.boundary);
    /* fall through */
  case PHYSNN_PDE_HEAT_1D:
    tridiag_alloc (&self->tx, self->ni[0], self->run.boundary);
    break;
  case PHYSNN_PDE_WAVE_1D:
    self->v = g_new0 (gdouble, n);
    self->acc = g_new (gdouble, n);
    break;
  case PHYSNN_PDE_BURGERS_1D:
    self->w2 = g_new (gdouble, n);
    self->w3 = g_new (gdouble, n);
    tridiag_alloc (&self->tx, self->ni[0], self->run.boundary);
    break;
  }

  for (gsize j = 0; j < self->ni[1]; j++) {
    gdouble y = g.lo[1] + j * self->hi[1];
    for (gsize i = 0; i < self->ni[0]; i++)
      self->u[j * self->ni[0] + i] = initial_value (
          &self->run, &g, self->coef, g.lo[0] + i * self->hi[0], y);
  }
  impose_dirichlet (self);

  if (self->run.source_amplitude != 0.0) {
    const Params *p = &self->run;
    gdouble s2 = 2.0 * p->source_width * p->source_width;
    self->q = g_new (gdouble, n);
    for (gsize j = 0; j < self->ni[1]; j++) {
      gdouble dy = g.ndim == 2 ? g.lo[1] + j * self->hi[1] - p->source_y : 0;
      for (gsize i = 0; i < self->ni[0]; i++) {
        gdouble dx = g.lo[0] + i * self->hi[0] - p->source_x;
        self->q[j * self->ni[0] + i] =
            is_dirichlet_node (self, i, j)
                ? 0.0
                : p->source_amplitude * exp (-(dx * dx + dy * dy) / s2);
      }
    }
  }
  if (self->run.pde == PHYSNN_PDE_WAVE_1D)
    wave_acceleration (self);

  self->dt_max = choose_dt (self);
  self->tri_dt = NAN;
  self->t = 0.0;
  self->steps = 0;
  self->ready = TRUE;
  update_output (self);

  GString *s = g_string_new (base_scheme (self->run.pde));
  g_string_append_printf (
      s, "; %s boundaries; ", boundary_name (self->run.boundary));
  if (g.ndim == 2)
    g_string_append_printf (
        s, "%" G_GSIZE_FORMAT " × %" G_GSIZE_FORMAT, self->ni[0], self->ni[1]);
  else
    g_string_append_printf (s, "%" G_GSIZE_FORMAT, self->ni[0]);
  g_string_append_printf (s, " internal points (oversample %u)", r);
  if (isfinite (self->dt_max))
    g_string_append_printf (s, ", dt ≤ %.3g s", self->dt_max);
  self->scheme = g_string_free (s, FALSE);

  if (!state_finite (self)) {
    self->failed = TRUE;
    self->fail_time = 0.0;
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NUMERIC,
        "the initial state of %s is not finite (NaN or Inf at t = 0 s): "
        "check amplitude",
        pde_name (self->run.pde));
    return FALSE;
  }
  return TRUE;
}

/**
 * physnn_simulator_advance:
 * @self: a #PhysnnSimulator
 * @t: the simulated time to reach, in seconds; not before the current time
 * @error: return location for a #GError
 *
 * Integrates up to exactly @t in as many internal steps as the scheme's
 * step limit needs (see physnn_simulator_get_scheme()). A simulator that was
 * never reset is reset here first.
 *
 * Errors: %PHYSNN_ERROR_INVALID_ARGUMENT when @t is earlier than the current
 * time or not finite, or when the interval would need more than 10⁸ steps;
 * %PHYSNN_ERROR_NUMERIC when the field becomes NaN or infinite, naming the
 * time (the simulator then needs a physnn_simulator_reset()).
 *
 * Returns: %TRUE on success
 */
gboolean
physnn_simulator_advance (PhysnnSimulator *self, gdouble t, GError **error)
{
  g_return_val_if_fail (PHYSNN_IS_SIMULATOR (self), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!isfinite (t)) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "cannot advance to t = %g s: the time must be finite", t);
    return FALSE;
  }
  if (!self->ready && !physnn_simulator_reset (self, error))
    return FALSE;
  if (self->failed) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NUMERIC,
        "the %s field became NaN or infinite by t = %.9g s; reset the "
        "simulator before advancing it again",
        pde_name (self->run.pde), self->fail_time);
    return FALSE;
  }
  if (t < self->t) {
    g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
        "cannot advance to t = %.9g s: it is before the current time "
        "%.9g s (reset to start again)",
        t, self->t);
    return FALSE;
  }

  const Params *p = &self->run;
  gboolean has_source = p->source_amplitude != 0.0;

  while (self->t < t) {
    gdouble t0 = self->t, end = t;
    if (has_source && t0 < p->source_start && p->source_start < t)
      end = p->source_start;
    gboolean source_on = has_source && t0 >= p->source_start;
    gdouble span = end - t0;
    gdouble nd =
        isfinite (self->dt_max) ? ceil (span / self->dt_max - 1e-9) : 1.0;
    nd = MAX (nd, 1.0);
    if (nd > MAX_STEPS_PER_ADVANCE) {
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_INVALID_ARGUMENT,
          "advancing %s from t = %.9g s to %.9g s would take %.3g steps of "
          "at most %.3g s; advance in shorter intervals (at most %.3g steps "
          "each)",
          pde_name (p->pde), t0, t, nd, self->dt_max, MAX_STEPS_PER_ADVANCE);
      return FALSE;
    }
    guint64 n = (guint64)nd;
    gdouble dt = span / nd;
    ensure_factored (self, dt);
    for (guint64 i = 0; i < n; i++) {
      step (self, dt, source_on);
      self->steps++;
      if (((i + 1) % FINITE_CHECK_INTERVAL == 0 || i + 1 == n) &&
          !state_finite (self)) {
        self->failed = TRUE;
        self->fail_time = t0 + (i + 1) * dt;
        self->t = self->fail_time;
        update_output (self);
        g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_NUMERIC,
            "the %s field became NaN or infinite by t = %.9g s (step "
            "%" G_GUINT64_FORMAT "); the parameters or the time step are "
            "outside the scheme's range",
            pde_name (p->pde), self->fail_time, self->steps);
        return FALSE;
      }
    }
    self->t = end;
  }
  update_output (self);
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Queries */

/**
 * physnn_simulator_get_pde:
 * @self: a #PhysnnSimulator
 *
 * Returns: the equation in force since the last reset (before the first
 *   reset, the #PhysnnSimulator:pde property)
 */
PhysnnPdeKind
physnn_simulator_get_pde (PhysnnSimulator *self)
{
  g_return_val_if_fail (PHYSNN_IS_SIMULATOR (self), PHYSNN_PDE_HEAT_1D);
  return current_params (self)->pde;
}

/**
 * physnn_simulator_get_ndim:
 * @self: a #PhysnnSimulator
 *
 * Returns: the number of space dimensions of the field, 1 or 2
 */
guint
physnn_simulator_get_ndim (PhysnnSimulator *self)
{
  g_return_val_if_fail (PHYSNN_IS_SIMULATOR (self), 0);
  return pde_ndim (current_params (self)->pde);
}

/**
 * physnn_simulator_get_time:
 * @self: a #PhysnnSimulator
 *
 * Returns: the simulated time of the field in seconds (0 after a reset)
 */
gdouble
physnn_simulator_get_time (PhysnnSimulator *self)
{
  g_return_val_if_fail (PHYSNN_IS_SIMULATOR (self), 0.0);
  return self->t;
}

/**
 * physnn_simulator_get_steps:
 * @self: a #PhysnnSimulator
 *
 * Returns: the number of internal time steps taken since the last reset
 */
guint64
physnn_simulator_get_steps (PhysnnSimulator *self)
{
  g_return_val_if_fail (PHYSNN_IS_SIMULATOR (self), 0);
  return self->steps;
}

/**
 * physnn_simulator_get_grid_size:
 * @self: a #PhysnnSimulator
 * @axis: 0 for x, 1 for y
 *
 * The number of points of the output grid along @axis. Before the first
 * reset it is computed from the properties, so a caller can negotiate a
 * frame size before simulating.
 *
 * Returns: the number of points; 1 for an axis the field does not have
 */
gsize
physnn_simulator_get_grid_size (PhysnnSimulator *self, guint axis)
{
  Geometry g;

  g_return_val_if_fail (PHYSNN_IS_SIMULATOR (self), 0);
  current_geometry (self, &g);
  return axis < g.ndim ? g.n[axis] : 1;
}

/**
 * physnn_simulator_get_coordinate:
 * @self: a #PhysnnSimulator
 * @axis: 0 for x, 1 for y
 * @index: the grid index along @axis
 *
 * The coordinate of an output grid point: min + @index · h, where
 * h = (max − min) / (n − 1), or (max − min) / n on a periodic axis whose
 * grid leaves out max. Before the first reset it is computed from the
 * properties.
 *
 * Returns: the coordinate, or NaN for an axis the field does not have
 */
gdouble
physnn_simulator_get_coordinate (PhysnnSimulator *self, guint axis, gsize index)
{
  Geometry g;

  g_return_val_if_fail (PHYSNN_IS_SIMULATOR (self), NAN);
  current_geometry (self, &g);
  if (axis >= g.ndim)
    return NAN;
  return g.lo[axis] + (gdouble)index * g.h[axis];
}

/**
 * physnn_simulator_get_domain:
 * @self: a #PhysnnSimulator
 * @axis: 0 for x, 1 for y
 * @min: (out) (optional): return location for the lower end
 * @max: (out) (optional): return location for the upper end
 *
 * The interval the field covers along @axis, with the natural interval
 * substituted when min and max are equal (see #PhysnnSimulator:x-min).
 * Before the first reset it is computed from the properties.
 *
 * Returns: %FALSE (and NaN ends) for an axis the field does not have
 */
gboolean
physnn_simulator_get_domain (
    PhysnnSimulator *self, guint axis, gdouble *min, gdouble *max)
{
  Geometry g;
  gboolean ok;

  g_return_val_if_fail (PHYSNN_IS_SIMULATOR (self), FALSE);
  current_geometry (self, &g);
  ok = axis < g.ndim;
  if (min)
    *min = ok ? g.lo[axis] : NAN;
  if (max)
    *max = ok ? g.hi[axis] : NAN;
  return ok;
}

/**
 * physnn_simulator_get_field:
 * @self: a #PhysnnSimulator
 *
 * Copies the field on the output grid into a new float64 tensor of shape
 * [nx] in 1-D or [ny, nx] in 2-D (y outermost, so rows run along x).
 *
 * Returns: (transfer full) (nullable): the field, or %NULL before the first
 *   reset
 */
PhysnnTensor *
physnn_simulator_get_field (PhysnnSimulator *self)
{
  gsize shape[2];
  guint rank;

  g_return_val_if_fail (PHYSNN_IS_SIMULATOR (self), NULL);
  if (!self->ready)
    return NULL;
  if (self->geo.ndim == 2) {
    rank = 2;
    shape[0] = self->geo.n[1];
    shape[1] = self->geo.n[0];
  } else {
    rank = 1;
    shape[0] = self->geo.n[0];
  }
  return physnn_tensor_new_from_doubles (PHYSNN_DTYPE_FLOAT64, rank, shape,
      self->out, self->geo.n[0] * self->geo.n[1], NULL);
}

/**
 * physnn_simulator_peek_field:
 * @self: a #PhysnnSimulator
 * @n_values: (out) (optional): return location for the number of values
 *
 * The field on the output grid without a copy, laid out as in
 * physnn_simulator_get_field(). It stays valid until the next advance or
 * reset.
 *
 * Returns: (transfer none) (array length=n_values) (nullable): the values,
 *   or %NULL (and 0 values) before the first reset
 */
const gdouble *
physnn_simulator_peek_field (PhysnnSimulator *self, gsize *n_values)
{
  g_return_val_if_fail (PHYSNN_IS_SIMULATOR (self), NULL);
  if (!self->ready) {
    if (n_values)
      *n_values = 0;
    return NULL;
  }
  if (n_values)
    *n_values = self->geo.n[0] * self->geo.n[1];
  return self->out;
}

/* Locates a coordinate between two output grid points: clamped to the
 * domain, or wrapped around on a periodic axis. */
static void
locate (const Geometry *g, guint axis, gboolean periodic, gdouble x, gsize *i0,
    gsize *i1, gdouble *w)
{
  gsize n = g->n[axis];
  gdouble f = (x - g->lo[axis]) / g->h[axis];

  if (periodic) {
    f = fmod (f, (gdouble)n);
    if (f < 0.0)
      f += n;
    gsize i = (gsize)f;
    if (i >= n)
      i = n - 1;
    *i0 = i;
    *i1 = (i + 1) % n;
    *w = f - i;
    return;
  }
  f = CLAMP (f, 0.0, (gdouble)(n - 1));
  gsize i = (gsize)f;
  if (i > n - 2)
    i = n - 2;
  *i0 = i;
  *i1 = i + 1;
  *w = f - i;
}

/**
 * physnn_simulator_sample:
 * @self: a #PhysnnSimulator
 * @x: x coordinate
 * @y: y coordinate (ignored in 1-D)
 *
 * The field at a point, interpolated linearly (bilinearly in 2-D) between
 * output grid points. Points outside the domain are clamped to it; a
 * periodic axis wraps around instead.
 *
 * Returns: the value, or NaN before the first reset or for a NaN coordinate
 */
gdouble
physnn_simulator_sample (PhysnnSimulator *self, gdouble x, gdouble y)
{
  gsize i0, i1, j0 = 0, j1 = 0;
  gdouble wx, wy = 0.0;

  g_return_val_if_fail (PHYSNN_IS_SIMULATOR (self), NAN);
  if (!self->ready || isnan (x) || (self->geo.ndim == 2 && isnan (y)))
    return NAN;

  const Geometry *g = &self->geo;
  gboolean periodic = self->run.boundary == PHYSNN_BOUNDARY_PERIODIC;
  gsize nx = g->n[0];
  const gdouble *f = self->out;

  locate (g, 0, periodic, x, &i0, &i1, &wx);
  if (g->ndim == 1)
    return (1.0 - wx) * f[i0] + wx * f[i1];
  locate (g, 1, periodic, y, &j0, &j1, &wy);
  return (1.0 - wy) * ((1.0 - wx) * f[j0 * nx + i0] + wx * f[j0 * nx + i1]) +
         wy * ((1.0 - wx) * f[j1 * nx + i0] + wx * f[j1 * nx + i1]);
}

/**
 * physnn_simulator_source_active:
 * @self: a #PhysnnSimulator
 * @x: x coordinate
 * @y: y coordinate (ignored in 1-D)
 * @t: simulated time in seconds
 *
 * Whether the unmodelled heat source is on at time @t (a nonzero
 * #PhysnnSimulator:source-amplitude and @t ≥ #PhysnnSimulator:source-start)
 * and (@x, @y) lies within two source widths of its centre: the ground truth
 * for the %PHYSNN_FAULT_SOURCE mask of #PhysnnSensors. It uses the settings
 * in force since the last reset (the properties before the first).
 *
 * Returns: %TRUE if the source affects the point at that time
 */
gboolean
physnn_simulator_source_active (
    PhysnnSimulator *self, gdouble x, gdouble y, gdouble t)
{
  g_return_val_if_fail (PHYSNN_IS_SIMULATOR (self), FALSE);

  const Params *p = current_params (self);
  if (p->source_amplitude == 0.0 || !(t >= p->source_start))
    return FALSE;
  if (p->pde != PHYSNN_PDE_HEAT_1D && p->pde != PHYSNN_PDE_HEAT_2D)
    return FALSE;
  gdouble dx = x - p->source_x;
  gdouble dy = p->pde == PHYSNN_PDE_HEAT_2D ? y - p->source_y : 0.0;
  gdouble reach = 2.0 * p->source_width;
  return dx * dx + dy * dy <= reach * reach;
}

/**
 * physnn_simulator_get_scheme:
 * @self: a #PhysnnSimulator
 *
 * A human-readable description of the numerical method, for logs and
 * element documentation. After a reset it also gives the boundary
 * condition, the internal grid and the largest step.
 *
 * Returns: (transfer none): the description, valid until the next reset
 */
const gchar *
physnn_simulator_get_scheme (PhysnnSimulator *self)
{
  g_return_val_if_fail (PHYSNN_IS_SIMULATOR (self), NULL);
  if (self->ready && self->scheme)
    return self->scheme;
  return base_scheme (self->props.pde);
}

/* ------------------------------------------------------------------------ */
/* GObject */

/**
 * physnn_simulator_new:
 * @pde: the equation to solve
 *
 * Creates a simulator with default parameters for @pde. Set properties, then
 * call physnn_simulator_reset() (or just physnn_simulator_advance(), which
 * resets a new simulator first).
 *
 * Returns: (transfer full): a new #PhysnnSimulator
 */
PhysnnSimulator *
physnn_simulator_new (PhysnnPdeKind pde)
{
  return g_object_new (PHYSNN_TYPE_SIMULATOR, "pde", pde, NULL);
}

static void
physnn_simulator_finalize (GObject *object)
{
  PhysnnSimulator *self = PHYSNN_SIMULATOR (object);

  free_state (self);
  G_OBJECT_CLASS (physnn_simulator_parent_class)->finalize (object);
}

static void
physnn_simulator_set_property (
    GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  Params *p = &PHYSNN_SIMULATOR (object)->props;

  switch (prop_id) {
  case PROP_PDE:
    p->pde = g_value_get_enum (value);
    break;
  case PROP_X_MIN:
    p->x_min = g_value_get_double (value);
    break;
  case PROP_X_MAX:
    p->x_max = g_value_get_double (value);
    break;
  case PROP_Y_MIN:
    p->y_min = g_value_get_double (value);
    break;
  case PROP_Y_MAX:
    p->y_max = g_value_get_double (value);
    break;
  case PROP_NX:
    p->nx = g_value_get_uint (value);
    break;
  case PROP_NY:
    p->ny = g_value_get_uint (value);
    break;
  case PROP_ALPHA:
    p->alpha = g_value_get_double (value);
    break;
  case PROP_C:
    p->c = g_value_get_double (value);
    break;
  case PROP_NU:
    p->nu = g_value_get_double (value);
    break;
  case PROP_DT:
    p->dt = g_value_get_double (value);
    break;
  case PROP_INITIAL:
    p->initial = g_value_get_enum (value);
    break;
  case PROP_AMPLITUDE:
    p->amplitude = g_value_get_double (value);
    break;
  case PROP_MODE:
    p->mode = g_value_get_uint (value);
    break;
  case PROP_CENTER_X:
    p->center_x = g_value_get_double (value);
    break;
  case PROP_CENTER_Y:
    p->center_y = g_value_get_double (value);
    break;
  case PROP_WIDTH:
    p->width = g_value_get_double (value);
    break;
  case PROP_MODES:
    p->modes = g_value_get_uint (value);
    break;
  case PROP_SEED:
    p->seed = g_value_get_uint64 (value);
    break;
  case PROP_BOUNDARY:
    p->boundary = g_value_get_enum (value);
    break;
  case PROP_BOUNDARY_LEFT:
    p->boundary_left = g_value_get_double (value);
    break;
  case PROP_BOUNDARY_RIGHT:
    p->boundary_right = g_value_get_double (value);
    break;
  case PROP_SOURCE_X:
    p->source_x = g_value_get_double (value);
    break;
  case PROP_SOURCE_Y:
    p->source_y = g_value_get_double (value);
    break;
  case PROP_SOURCE_START:
    p->source_start = g_value_get_double (value);
    break;
  case PROP_SOURCE_AMPLITUDE:
    p->source_amplitude = g_value_get_double (value);
    break;
  case PROP_SOURCE_WIDTH:
    p->source_width = g_value_get_double (value);
    break;
  case PROP_OVERSAMPLE:
    p->oversample = g_value_get_uint (value);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
physnn_simulator_get_property (
    GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  const Params *p = &PHYSNN_SIMULATOR (object)->props;

  switch (prop_id) {
  case PROP_PDE:
    g_value_set_enum (value, p->pde);
    break;
  case PROP_X_MIN:
    g_value_set_double (value, p->x_min);
    break;
  case PROP_X_MAX:
    g_value_set_double (value, p->x_max);
    break;
  case PROP_Y_MIN:
    g_value_set_double (value, p->y_min);
    break;
  case PROP_Y_MAX:
    g_value_set_double (value, p->y_max);
    break;
  case PROP_NX:
    g_value_set_uint (value, p->nx);
    break;
  case PROP_NY:
    g_value_set_uint (value, p->ny);
    break;
  case PROP_ALPHA:
    g_value_set_double (value, p->alpha);
    break;
  case PROP_C:
    g_value_set_double (value, p->c);
    break;
  case PROP_NU:
    g_value_set_double (value, p->nu);
    break;
  case PROP_DT:
    g_value_set_double (value, p->dt);
    break;
  case PROP_INITIAL:
    g_value_set_enum (value, p->initial);
    break;
  case PROP_AMPLITUDE:
    g_value_set_double (value, p->amplitude);
    break;
  case PROP_MODE:
    g_value_set_uint (value, p->mode);
    break;
  case PROP_CENTER_X:
    g_value_set_double (value, p->center_x);
    break;
  case PROP_CENTER_Y:
    g_value_set_double (value, p->center_y);
    break;
  case PROP_WIDTH:
    g_value_set_double (value, p->width);
    break;
  case PROP_MODES:
    g_value_set_uint (value, p->modes);
    break;
  case PROP_SEED:
    g_value_set_uint64 (value, p->seed);
    break;
  case PROP_BOUNDARY:
    g_value_set_enum (value, p->boundary);
    break;
  case PROP_BOUNDARY_LEFT:
    g_value_set_double (value, p->boundary_left);
    break;
  case PROP_BOUNDARY_RIGHT:
    g_value_set_double (value, p->boundary_right);
    break;
  case PROP_SOURCE_X:
    g_value_set_double (value, p->source_x);
    break;
  case PROP_SOURCE_Y:
    g_value_set_double (value, p->source_y);
    break;
  case PROP_SOURCE_START:
    g_value_set_double (value, p->source_start);
    break;
  case PROP_SOURCE_AMPLITUDE:
    g_value_set_double (value, p->source_amplitude);
    break;
  case PROP_SOURCE_WIDTH:
    g_value_set_double (value, p->source_width);
    break;
  case PROP_OVERSAMPLE:
    g_value_set_uint (value, p->oversample);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
physnn_simulator_class_init (PhysnnSimulatorClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS;

  object_class->finalize = physnn_simulator_finalize;
  object_class->set_property = physnn_simulator_set_property;
  object_class->get_property = physnn_simulator_get_property;

  /* Ranges are wide on purpose: physnn_simulator_reset() checks values in
   * context (a viscosity only matters for Burgers) and reports a GError
   * naming the property, which an element can post as a readable message. */

  /**
   * PhysnnSimulator:pde:
   *
   * The equation to solve. Like every property it takes effect at the next
   * physnn_simulator_reset().
   */
  properties[PROP_PDE] =
      g_param_spec_enum ("pde", "PDE", "Equation to solve (default heat-1d)",
          PHYSNN_TYPE_PDE_KIND, PHYSNN_PDE_HEAT_1D, rw | G_PARAM_CONSTRUCT);
  /**
   * PhysnnSimulator:x-min:
   *
   * Left end of the domain. When #PhysnnSimulator:x-min equals
   * #PhysnnSimulator:x-max (as by default, both 0) the equation's natural
   * interval is used: [0, 1] for heat and wave, [−1, 1] for Burgers.
   */
  properties[PROP_X_MIN] = g_param_spec_double ("x-min", "x min",
      "Left end of the domain in metres; x-min = x-max (default 0, 0) "
      "selects [0, 1] for heat and wave, [-1, 1] for Burgers",
      -G_MAXDOUBLE, G_MAXDOUBLE, 0.0, rw);
  /**
   * PhysnnSimulator:x-max:
   *
   * Right end of the domain; see #PhysnnSimulator:x-min.
   */
  properties[PROP_X_MAX] = g_param_spec_double ("x-max", "x max",
      "Right end of the domain in metres; x-min = x-max (default 0, 0) "
      "selects [0, 1] for heat and wave, [-1, 1] for Burgers",
      -G_MAXDOUBLE, G_MAXDOUBLE, 0.0, rw);
  /**
   * PhysnnSimulator:y-min:
   *
   * Lower end of the domain along y (2-D only). y-min = y-max selects
   * [0, 1].
   */
  properties[PROP_Y_MIN] = g_param_spec_double ("y-min", "y min",
      "Lower end of the domain along y in metres, 2-D only (default 0)",
      -G_MAXDOUBLE, G_MAXDOUBLE, 0.0, rw);
  /**
   * PhysnnSimulator:y-max:
   *
   * Upper end of the domain along y (2-D only).
   */
  properties[PROP_Y_MAX] = g_param_spec_double ("y-max", "y max",
      "Upper end of the domain along y in metres, 2-D only (default 1)",
      -G_MAXDOUBLE, G_MAXDOUBLE, 1.0, rw);
  /**
   * PhysnnSimulator:nx:
   *
   * Output grid points along x, at least 3; 0 (the default) selects 256 in
   * 1-D and 64 in 2-D. The solver may work on a finer grid (see
   * #PhysnnSimulator:oversample).
   */
  properties[PROP_NX] = g_param_spec_uint ("nx", "nx",
      "Output grid points along x, at least 3; 0 = automatic: 256 in 1-D, "
      "64 in 2-D (default 0)",
      0, G_MAXUINT, 0, rw);
  /**
   * PhysnnSimulator:ny:
   *
   * Output grid points along y (2-D only), at least 3.
   */
  properties[PROP_NY] = g_param_spec_uint ("ny", "ny",
      "Output grid points along y, 2-D only, at least 3 (default 64)", 0,
      G_MAXUINT, 64, rw);
  /**
   * PhysnnSimulator:alpha:
   *
   * Diffusivity α of the heat equation, positive.
   */
  properties[PROP_ALPHA] = g_param_spec_double ("alpha", "Diffusivity",
      "Heat equation diffusivity alpha in m²/s, positive (default 0.1)", 0.0,
      G_MAXDOUBLE, DEFAULT_ALPHA, rw);
  /**
   * PhysnnSimulator:c:
   *
   * Speed c of the wave equation, positive.
   */
  properties[PROP_C] = g_param_spec_double ("c", "Wave speed",
      "Wave equation speed c in m/s, positive (default 1)", 0.0, G_MAXDOUBLE,
      DEFAULT_C, rw);
  /**
   * PhysnnSimulator:nu:
   *
   * Viscosity ν of Burgers' equation, positive; the default 0.01/π is the
   * classical shock-forming test case.
   */
  properties[PROP_NU] = g_param_spec_double ("nu", "Viscosity",
      "Burgers viscosity nu in m²/s, positive (default 0.01/pi = "
      "0.0031831)",
      0.0, G_MAXDOUBLE, DEFAULT_NU, rw);
  /**
   * PhysnnSimulator:dt:
   *
   * Largest internal time step in simulated seconds; 0 (the default)
   * chooses it from the scheme's stability and accuracy. For the wave and
   * Burgers equations the step never exceeds the stability limit whatever
   * is set here.
   */
  properties[PROP_DT] = g_param_spec_double ("dt", "Time step",
      "Largest internal time step in simulated seconds; 0 = automatic "
      "(default 0)",
      0.0, G_MAXDOUBLE, 0.0, rw);
  /**
   * PhysnnSimulator:initial:
   *
   * The initial state; see #PhysnnInitialKind. In 2-D the random state is
   * Σ a_kl sin(kπξ) sin(lπη), a_kl ~ N(0, amplitude² / (k² + l²)).
   */
  properties[PROP_INITIAL] = g_param_spec_enum ("initial", "Initial state",
      "Initial state u(0, x) (default: sin(pi xi), -sin(pi x) for Burgers)",
      PHYSNN_TYPE_INITIAL_KIND, PHYSNN_INITIAL_DEFAULT, rw);
  properties[PROP_AMPLITUDE] = g_param_spec_double ("amplitude", "Amplitude",
      "Amplitude of the sine, Gaussian and random initial states in field "
      "units (default 1)",
      -G_MAXDOUBLE, G_MAXDOUBLE, 1.0, rw);
  properties[PROP_MODE] = g_param_spec_uint ("mode", "Mode",
      "Mode number of the sine initial state, sin(mode pi xi) (default 1)", 1,
      1 << 20, 1, rw);
  properties[PROP_CENTER_X] = g_param_spec_double ("center-x", "Centre x",
      "x of the centre of the Gaussian initial state in metres (default 0.5)",
      -G_MAXDOUBLE, G_MAXDOUBLE, 0.5, rw);
  properties[PROP_CENTER_Y] = g_param_spec_double ("center-y", "Centre y",
      "y of the centre of the Gaussian initial state in metres, 2-D only "
      "(default 0.5)",
      -G_MAXDOUBLE, G_MAXDOUBLE, 0.5, rw);
  properties[PROP_WIDTH] = g_param_spec_double ("width", "Width",
      "Standard deviation of the Gaussian initial state in metres, "
      "positive (default 0.1)",
      0.0, G_MAXDOUBLE, 0.1, rw);
  properties[PROP_MODES] = g_param_spec_uint ("modes", "Modes",
      "Number of sine modes of the random initial state per axis "
      "(default 4)",
      1, MAX_MODES, 4, rw);
  /**
   * PhysnnSimulator:seed:
   *
   * Seed of the random initial state; the same seed gives the same state.
   */
  properties[PROP_SEED] = g_param_spec_uint64 ("seed", "Seed",
      "Seed of the random initial state; any value, 0 included (default 0)", 0,
      G_MAXUINT64, 0, rw);
  properties[PROP_BOUNDARY] = g_param_spec_enum ("boundary", "Boundary",
      "Boundary condition on every side (default dirichlet)",
      PHYSNN_TYPE_BOUNDARY_KIND, PHYSNN_BOUNDARY_DIRICHLET, rw);
  /**
   * PhysnnSimulator:boundary-left:
   *
   * Dirichlet value at x-min (1-D only: a 2-D Dirichlet boundary is 0 on
   * every side).
   */
  properties[PROP_BOUNDARY_LEFT] =
      g_param_spec_double ("boundary-left", "Left boundary value",
          "Dirichlet value at x-min in field units, 1-D only (default 0)",
          -G_MAXDOUBLE, G_MAXDOUBLE, 0.0, rw);
  properties[PROP_BOUNDARY_RIGHT] =
      g_param_spec_double ("boundary-right", "Right boundary value",
          "Dirichlet value at x-max in field units, 1-D only (default 0)",
          -G_MAXDOUBLE, G_MAXDOUBLE, 0.0, rw);
  properties[PROP_SOURCE_X] = g_param_spec_double ("source-x", "Source x",
      "x of the centre of the heat source in metres (default 0.5)",
      -G_MAXDOUBLE, G_MAXDOUBLE, 0.5, rw);
  properties[PROP_SOURCE_Y] = g_param_spec_double ("source-y", "Source y",
      "y of the centre of the heat source in metres, 2-D only (default 0.5)",
      -G_MAXDOUBLE, G_MAXDOUBLE, 0.5, rw);
  properties[PROP_SOURCE_START] =
      g_param_spec_double ("source-start", "Source start",
          "Simulated time at which the heat source switches on, in seconds "
          "(default 0)",
          -G_MAXDOUBLE, G_MAXDOUBLE, 0.0, rw);
  /**
   * PhysnnSimulator:source-amplitude:
   *
   * Peak rate of the unmodelled heat source, in field units per second:
   * from #PhysnnSimulator:source-start on the heat equation gains the term
   * amplitude · exp(−|x − s|² / (2 width²)). 0 (the default) turns the
   * source off. Only the heat equations have a source; reset() refuses a
   * nonzero value for the others.
   */
  properties[PROP_SOURCE_AMPLITUDE] =
      g_param_spec_double ("source-amplitude", "Source amplitude",
          "Peak rate of the heat source in field units per second, heat only; "
          "0 = off (default 0)",
          -G_MAXDOUBLE, G_MAXDOUBLE, 0.0, rw);
  properties[PROP_SOURCE_WIDTH] =
      g_param_spec_double ("source-width", "Source width",
          "Standard deviation of the heat source in metres, positive "
          "(default 0.05)",
          0.0, G_MAXDOUBLE, 0.05, rw);
  /**
   * PhysnnSimulator:oversample:
   *
   * Refinement of the internal grid over the output grid, along every axis;
   * 0 (the default) chooses it: 1 for heat and wave, and for Burgers the
   * smallest factor that resolves the viscous shock (cell Reynolds number
   * U h / ν ≤ 1/2, within 4096 points; beyond that set it explicitly).
   */
  properties[PROP_OVERSAMPLE] = g_param_spec_uint ("oversample", "Oversample",
      "Internal grid refinement factor per axis, at most 64; 0 = automatic "
      "(1 for heat and wave, enough to resolve the shock for Burgers) "
      "(default 0)",
      0, MAX_OVERSAMPLE, 0, rw);

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
physnn_simulator_init (PhysnnSimulator *self)
{
  Params *p = &self->props;

  p->pde = PHYSNN_PDE_HEAT_1D;
  p->y_max = 1.0;
  p->ny = 64;
  p->alpha = DEFAULT_ALPHA;
  p->c = DEFAULT_C;
  p->nu = DEFAULT_NU;
  p->initial = PHYSNN_INITIAL_DEFAULT;
  p->amplitude = 1.0;
  p->mode = 1;
  p->center_x = 0.5;
  p->center_y = 0.5;
  p->width = 0.1;
  p->modes = 4;
  p->boundary = PHYSNN_BOUNDARY_DIRICHLET;
  p->source_x = 0.5;
  p->source_y = 0.5;
  p->source_width = 0.05;
  self->run = *p;
  self->tri_dt = NAN;
}
