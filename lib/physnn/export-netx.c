/* physnn — Lava-dl NetX HDF5 export (Loihi).
 *
 * Layout (REFERENCES.md, as lava-dl's netx reads it):
 *   /layer/<i>/type         fixed-length ASCII "dense"
 *   /layer/<i>/shape        int64 [outFeatures]
 *   /layer/<i>/inFeatures   int64 scalar
 *   /layer/<i>/outFeatures  int64 scalar
 *   /layer/<i>/weight       float32 (out, in) holding Loihi's integer
 *                           weights (even, −256…254)
 *   /layer/<i>/bias         float32 (out) bias mantissas, when nonzero
 *   /layer/<i>/neuron/      type "CUBA", iDecay, vDecay, vThMant,
 *                           refDelay (1), gradedSpike (0)
 *   /simulation/Ts          1 (one Loihi step per physnn step)
 *   /simulation/tSample     steps (0 when unknown)
 *   /physnn/                dt, the NIR node names, bias exponents: what
 *                           netx ignores but a reader needs to map back
 * The integers come from neuro-loihi.c.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "physnn/neuro-private.h"
#include "physnn/error.h"
#include "physnn/nir-private.h"

#include <glib/gstdio.h>
#include <hdf5.h>
#include <string.h>

static gboolean
put_ascii (hid_t loc, const gchar *name, const gchar *value)
{
  hid_t type = H5Tcopy (H5T_C_S1);
  H5Tset_size (type, MAX (strlen (value), 1));
  H5Tset_strpad (type, H5T_STR_NULLPAD);
  H5Tset_cset (type, H5T_CSET_ASCII);
  hid_t space = H5Screate (H5S_SCALAR);
  hid_t ds = H5Dcreate2 (
      loc, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  gboolean ok =
      ds >= 0 && H5Dwrite (ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, value) >= 0;
  if (ds >= 0)
    H5Dclose (ds);
  H5Sclose (space);
  H5Tclose (type);
  return ok;
}

static gboolean
put_data (hid_t loc, const gchar *name, hid_t file_type, hid_t mem_type,
    guint rank, const hsize_t *dims, gconstpointer data)
{
  hid_t space =
      rank ? H5Screate_simple ((int)rank, dims, NULL) : H5Screate (H5S_SCALAR);
  hid_t ds = H5Dcreate2 (
      loc, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  gboolean ok = ds >= 0 && H5Dwrite (ds, mem_type, H5S_ALL, H5S_ALL,
                               H5P_DEFAULT, data) >= 0;
  if (ds >= 0)
    H5Dclose (ds);
  H5Sclose (space);
  return ok;
}

static gboolean
put_int (hid_t loc, const gchar *name, gint64 v)
{
  return put_data (loc, name, H5T_STD_I64LE, H5T_NATIVE_INT64, 0, NULL, &v);
}

static gboolean
put_double (hid_t loc, const gchar *name, gdouble v)
{
  return put_data (loc, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 0, NULL, &v);
}

static gboolean
write_layer (
    hid_t layers, guint i, const NeuroLayer *l, const NeuroLoihiLayer *q)
{
  gchar name[16];
  g_snprintf (name, sizeof name, "%u", i);
  hid_t g = H5Gcreate2 (layers, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  if (g < 0)
    return FALSE;
  gsize nw = l->n_out * l->n_in;
  g_autofree gfloat *w = g_new (gfloat, nw);
  for (gsize k = 0; k < nw; k++)
    w[k] = (gfloat)q->w[k];
  hsize_t wd[2] = { l->n_out, l->n_in };
  gint64 shape = (gint64)l->n_out;
  hsize_t one = 1;
  gboolean ok =
      put_ascii (g, "type", "dense") &&
      put_data (g, "shape", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, &one, &shape) &&
      put_int (g, "inFeatures", (gint64)l->n_in) &&
      put_int (g, "outFeatures", (gint64)l->n_out) &&
      put_data (g, "weight", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, wd, w);
  gboolean any_bias = FALSE;
  for (gsize k = 0; k < l->n_out; k++)
    any_bias |= q->bias[k] != 0;
  if (ok && any_bias) {
    g_autofree gfloat *b = g_new (gfloat, l->n_out);
    for (gsize k = 0; k < l->n_out; k++)
      b[k] = (gfloat)q->bias[k];
    hsize_t bd = l->n_out;
    ok = put_data (g, "bias", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, &bd, b);
  }
  hid_t n =
      ok ? H5Gcreate2 (g, "neuron", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT) : -1;
  ok = ok && n >= 0 && put_ascii (n, "type", "CUBA") &&
       put_int (n, "iDecay", q->du) && put_int (n, "vDecay", q->dv) &&
       put_int (n, "vThMant", q->vth) && put_int (n, "refDelay", 1) &&
       put_int (n, "gradedSpike", 0);
  if (n >= 0)
    H5Gclose (n);
  H5Gclose (g);
  return ok;
}

static gboolean
write_extras (hid_t f, PhysnnNeuroNet *net, const NeuroLoihiLayer *q)
{
  hid_t g = H5Gcreate2 (f, "physnn", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  if (g < 0)
    return FALSE;
  gboolean ok = put_double (g, "dt", net->dt) &&
                put_ascii (g, "source", "physnn neuro export (NIR layers)");
  for (guint i = 0; ok && i < net->layers->len; i++) {
    NeuroLayer *l = g_ptr_array_index (net->layers, i);
    gchar name[16];
    g_snprintf (name, sizeof name, "%u", i);
    hid_t lg = H5Gcreate2 (g, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    ok = lg >= 0 && put_ascii (lg, "nir_weights", l->syn_name) &&
         put_ascii (lg, "nir_neurons", l->neu_name) &&
         put_ascii (lg, "nir_type", l->neu_type) &&
         put_int (lg, "biasExp", q[i].bias_exp);
    if (lg >= 0)
      H5Gclose (lg);
  }
  H5Gclose (g);
  return ok;
}

gboolean
_physnn_neuro_write_netx (
    PhysnnNeuroNet *net, const gchar *path, GError **error)
{
  guint nl = net->layers->len;
  NeuroLoihiLayer *q = g_new0 (NeuroLoihiLayer, nl);
  gboolean ok = TRUE;
  for (guint i = 0; ok && i < nl; i++)
    ok = _physnn_neuro_loihi_layer (net, i, &q[i], error);
  g_autofree gchar *tmp = ok ? _physnn_neuro_temp_path (path, error) : NULL;
  if (tmp) {
    gpointer held = _physnn_hdf5_enter ();
    hid_t f = H5Fcreate (tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    ok = f >= 0;
    hid_t layers =
        ok ? H5Gcreate2 (f, "layer", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)
           : -1;
    ok = ok && layers >= 0;
    for (guint i = 0; ok && i < nl; i++)
      ok = write_layer (layers, i, g_ptr_array_index (net->layers, i), &q[i]);
    if (layers >= 0)
      H5Gclose (layers);
    hid_t sim =
        ok ? H5Gcreate2 (f, "simulation", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)
           : -1;
    ok =
        ok && sim >= 0 && put_int (sim, "Ts", 1) && put_int (sim, "tSample", 0);
    if (sim >= 0)
      H5Gclose (sim);
    ok = ok && write_extras (f, net, q);
    if (f >= 0 && H5Fclose (f) < 0)
      ok = FALSE;
    _physnn_hdf5_leave (held);
    if (!ok) {
      g_unlink (tmp);
      g_set_error (error, PHYSNN_ERROR, PHYSNN_ERROR_IO,
          "%s: libhdf5 could not write the NetX file (disk full or not "
          "writable?)",
          path);
    } else {
      ok = _physnn_neuro_commit (tmp, path, error);
    }
  } else {
    ok = FALSE;
  }
  for (guint i = 0; i < nl; i++)
    _physnn_neuro_loihi_layer_clear (&q[i]);
  g_free (q);
  return ok;
}
