/* hl-render.h — Hilum's cairo drawing (no GTK), one include for all of it: colormaps, the heatmap
 * overlay and colorbar, ROC charts, the report page, and atomic PNG/PDF output. */
#pragma once

#include "hl-colormap.h"
#include "hl-overlay.h"
#include "hl-render-io.h"
#include "hl-report.h"
#include "hl-roc-chart.h"
