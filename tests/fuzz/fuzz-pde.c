/* libFuzzer harness: the PDE language on arbitrary bytes. The first line is
 * the PDE, an optional second line parameters ("alpha=0.1, nu=1"). What
 * parses must print to a canonical form that parses to the same form, and
 * binding it to the shipped heat PINN's names must succeed or fail with a
 * message naming a column. Built and run by run-fuzz-pde.sh (clang, ASan,
 * UBSan, LeakSanitizer). */
#include <physnn/physnn.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static PhysnnModel *model;

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (model == NULL)
    model = physnn_model_new_builtin ("heat1d-pinn", NULL);
  gchar *text = g_strndup ((const gchar *)data, size);
  gchar *nl = strchr (text, '\n');
  const gchar *params = NULL;
  if (nl) {
    *nl = '\0';
    params = nl + 1;
  }
  GError *error = NULL;
  PhysnnPde *p = physnn_pde_new (text, &error);
  if (p == NULL) {
    if (g_utf8_validate (text, -1, NULL) && !strstr (error->message, "column") &&
        !strstr (error->message, "longer than"))
      abort ();
    g_clear_error (&error);
    g_free (text);
    return 0;
  }
  for (guint e = 0; e < physnn_pde_get_n_equations (p); e++) {
    gchar *eq = physnn_pde_get_equation (p, e);
    PhysnnPde *q = physnn_pde_new (eq, NULL);
    if (q == NULL)
      abort ();
    gchar *eq2 = physnn_pde_get_equation (q, 0);
    if (g_strcmp0 (eq, eq2) != 0)
      abort ();
    g_free (eq2);
    g_object_unref (q);
    g_free (eq);
  }
  if (params && !physnn_pde_set_parameters (p, params, &error))
    g_clear_error (&error);
  if (model && !physnn_pde_bind (p, model, &error)) {
    if (!strstr (error->message, "column"))
      abort ();
    g_clear_error (&error);
  } else if (model) {
    (void)physnn_pde_get_derivatives (p);
  }
  g_object_unref (p);
  g_free (text);
  return 0;
}
