/* hl-optim.c — optimisers over an HlTrainNet's parameters, with torch.optim's exact update
 * rules (PyTorch 1.13, single-tensor code path), and learning-rate schedules.
 *
 *   SGD:   g = grad + wd p; buf = g on the first step, else momentum buf + (1 - dampening) g;
 *          g = nesterov ? g + momentum buf : buf (when momentum != 0); p -= lr g
 *   Adam:  g = grad + wd p (L2, as torch.optim.Adam); AdamW: p *= 1 - lr wd (decoupled)
 *          m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2; t += 1
 *          p -= lr / (1 - b1^t) * m / (sqrt (v) / sqrt (1 - b2^t) + eps)
 * Weight decay applies to every parameter, as with torch's default single parameter group.
 * With a backbone learning-rate scale F, everything below the classifier is a second group of
 * lr x F (the scaled rate computed in double, as Python does, then rounded to float).
 */
#include "hl-train.h"
#include "hl-kernels.h"

#include <math.h>
#include <string.h>

struct _HlOptim
{
  HlTrainNet *net;
  HlOptimConfig config;
  gint64 step;
  float *state;   /* SGD momentum: buf; Adam(W): m then v, each (total floats of the params) */
  gsize n_state;
  gsize n_values; /* floats over all parameters */
  float backbone_lr_scale; /* lr factor of every parameter but the classifier's */
};

HlOptim *
hl_optim_new (HlTrainNet *net, const HlOptimConfig *config)
{
  g_return_val_if_fail (net != NULL && config != NULL, NULL);
  g_return_val_if_fail (config->weight_decay >= 0.0f, NULL);
  g_return_val_if_fail (config->kind != HL_OPTIM_SGD
                        || (config->momentum >= 0.0f && config->dampening >= 0.0f), NULL);
  g_return_val_if_fail (!config->nesterov
                        || (config->momentum > 0.0f && config->dampening == 0.0f), NULL);
  g_return_val_if_fail (config->kind == HL_OPTIM_SGD
                        || (config->beta1 >= 0.0f && config->beta1 < 1.0f && config->beta2 >= 0.0f
                            && config->beta2 < 1.0f && config->eps > 0.0f), NULL);

  HlOptim *opt = g_new0 (HlOptim, 1);
  int n_params;
  const HlParam *params = hl_train_net_get_params (net, &n_params);

  opt->net = net;
  opt->config = *config;
  opt->backbone_lr_scale = 1.0f;
  for (int i = 0; i < n_params; i++)
    opt->n_values += params[i].numel;
  if (config->kind == HL_OPTIM_SGD)
    opt->n_state = config->momentum != 0.0f ? opt->n_values : 0;
  else
    opt->n_state = 2 * opt->n_values;
  opt->state = g_new0 (float, MAX (opt->n_state, 1));
  return opt;
}

void
hl_optim_free (HlOptim *opt)
{
  if (opt == NULL)
    return;
  g_free (opt->state);
  g_free (opt);
}

gint64
hl_optim_get_step (HlOptim *opt)
{
  g_return_val_if_fail (opt != NULL, 0);

  return opt->step;
}

void
hl_optim_set_step (HlOptim *opt, gint64 step)
{
  g_return_if_fail (opt != NULL && step >= 0);

  opt->step = step;
}

void
hl_optim_set_backbone_lr_scale (HlOptim *opt, float scale)
{
  g_return_if_fail (opt != NULL && scale > 0.0f);

  opt->backbone_lr_scale = scale;
}

float *
hl_optim_get_state (HlOptim *opt, gsize *n_floats)
{
  g_return_val_if_fail (opt != NULL && n_floats != NULL, NULL);

  *n_floats = opt->n_state;
  return opt->state;
}

static void
sgd_param (const HlOptimConfig *c, gboolean first, float lr, float *p, const float *grad,
           float *buf, gsize numel)
{
  for (gsize k = 0; k < numel; k++)
    {
      float g = grad[k];
      if (c->weight_decay != 0.0f)
        g = g + c->weight_decay * p[k];
      if (c->momentum != 0.0f)
        {
          buf[k] = first ? g : c->momentum * buf[k] + (1.0f - c->dampening) * g;
          g = c->nesterov ? g + c->momentum * buf[k] : buf[k];
        }
      p[k] = p[k] - lr * g;
    }
}

static void
adam_param (const HlOptimConfig *c, gint64 step, float lr, float *p, const float *grad, float *m,
            float *v, gsize numel)
{
  /* torch computes these scalars in Python double */
  double bc1 = 1.0 - pow (c->beta1, (double) step);
  double bc2 = 1.0 - pow (c->beta2, (double) step);
  float step_size = (float) ((double) lr / bc1);
  float bc2_sqrt = (float) sqrt (bc2);
  float decay = (float) (1.0 - (double) lr * c->weight_decay);
  gboolean decoupled = c->kind == HL_OPTIM_ADAMW;

  for (gsize k = 0; k < numel; k++)
    {
      float g = grad[k];
      if (decoupled)
        p[k] = p[k] * decay;
      else if (c->weight_decay != 0.0f)
        g = g + c->weight_decay * p[k];
      m[k] = m[k] * c->beta1 + (1.0f - c->beta1) * g;
      v[k] = v[k] * c->beta2 + (1.0f - c->beta2) * g * g;
      float denom = sqrtf (v[k]) / bc2_sqrt + c->eps;
      p[k] = p[k] - step_size * (m[k] / denom);
    }
}

/* One step over a range of the parameters' floats; the update is element-wise, so splitting it
 * over threads changes no value. */
typedef struct
{
  HlOptim *opt;
  float lr;
  const HlParam *params;
  gsize *offsets; /* (n_params): each parameter's first float in the state */
  int per_chunk, n_params;
} StepJob;

static void
step_chunk (gpointer data, int chunk)
{
  const StepJob *job = data;
  HlOptim *opt = job->opt;
  int end = MIN ((chunk + 1) * job->per_chunk, job->n_params);

  for (int i = chunk * job->per_chunk; i < end; i++)
    {
      const HlParam *pa = &job->params[i];
      gsize off = job->offsets[i];
      float lr = job->lr;
      if (opt->backbone_lr_scale != 1.0f && strncmp (pa->name, "classifier.", 11) != 0)
        lr = (float) ((double) lr * opt->backbone_lr_scale);
      if (opt->config.kind == HL_OPTIM_SGD)
        sgd_param (&opt->config, opt->step == 1, lr, pa->data, pa->grad,
                   opt->n_state > 0 ? opt->state + off : NULL, pa->numel);
      else
        adam_param (&opt->config, opt->step, lr, pa->data, pa->grad, opt->state + off,
                    opt->state + opt->n_values + off, pa->numel);
    }
}

void
hl_optim_step (HlOptim *opt, float lr)
{
  g_return_if_fail (opt != NULL);

  int n_params;
  const HlParam *params = hl_train_net_get_params (opt->net, &n_params);
  g_autofree gsize *offsets = g_new (gsize, MAX (n_params, 1));
  gsize off = 0;

  for (int i = 0; i < n_params; i++)
    {
      offsets[i] = off;
      off += params[i].numel;
    }
  opt->step++;
  /* a few parameters per chunk: DenseNet-121 has ~360, most of them small */
  StepJob job = { opt, lr, params, offsets, 4, n_params };
  hl_parallel_for ((n_params + job.per_chunk - 1) / job.per_chunk, step_chunk, &job);
}

float
hl_lr_schedule_at (const HlLrSchedule *s, gint64 step)
{
  g_return_val_if_fail (s != NULL && step >= 0, NAN);
  g_return_val_if_fail (s->kind != HL_LR_STEP || s->step_size >= 1, NAN);

  if (step < s->warmup_steps)
    return s->base_lr * (float) (step + 1) / (float) s->warmup_steps;
  switch (s->kind)
    {
    case HL_LR_CONSTANT:
      return s->base_lr;
    case HL_LR_COSINE:
      {
        gint64 span = MAX ((gint64) s->total_steps - s->warmup_steps, 1);
        double t = MIN ((double) (step - s->warmup_steps) / (double) span, 1.0);
        return (float) (s->min_lr + (s->base_lr - s->min_lr) * 0.5 * (1.0 + cos (G_PI * t)));
      }
    case HL_LR_STEP:
      return s->base_lr * powf (s->gamma, (float) ((step - s->warmup_steps) / s->step_size));
    }
  g_return_val_if_reached (NAN);
}
