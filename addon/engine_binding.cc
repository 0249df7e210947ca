// Exports of this module are registered here as they are implemented.
#include "modules.h"

void InitEngine(Napi::Env /*env*/, Napi::Object /*exports*/) {}
