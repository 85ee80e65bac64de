#include "context.h"

#include <cstdlib>
#include <filesystem>

#include "perf/correction.h"
#include "perf/optables.h"
#include "perf/profile.h"
#include "perf/queue_model.h"
#include "perf/step_model.h"

namespace variant {

std::string ResolveDataDir(const char* explicit_dir) {
  if (explicit_dir != nullptr && *explicit_dir != '\0') return explicit_dir;
  if (const char* env = std::getenv("VARIANT_DATA_DIR"); env != nullptr && *env != '\0')
    return env;
  return VARIANT_DEFAULT_DATA_DIR;
}

Context::~Context() = default;

Result<std::unique_ptr<Context>> Context::Create(const std::string& data_dir) {
  std::unique_ptr<Context> c(new Context());
  c->data_dir_ = data_dir;
  const std::string cat = data_dir + "/catalog.yaml";
  if (!std::filesystem::exists(cat))
    return Status(VARIANT_E_IO, "data directory '" + data_dir +
                                    "' has no catalog.yaml (set VARIANT_DATA_DIR)");
  VARIANT_RETURN_IF_ERROR(c->catalog_.MergeFile(cat));
  c->corrector_ = std::make_unique<Corrector>();
  c->profiles_ = std::make_unique<ProfileSet>();
  return c;
}

Result<const OpTables*> Context::Tables(const Accelerator& acc) {
  if (acc.tables.empty())
    return Status(VARIANT_E_NO_DATA, "accelerator '" + acc.name +
                                         "' names no measured operator tables");
  auto it = tables_.find(acc.tables);
  if (it != tables_.end()) return static_cast<const OpTables*>(it->second.get());
  auto t = OpTables::Load(data_dir_ + "/perf/aiconfigurator", acc.tables);
  if (!t.ok()) return t.status();
  const OpTables* p = t.value().get();
  tables_[acc.tables] = std::move(t.value());
  return p;
}

Result<const StepModel*> Context::GetStepModel(const std::string& model,
                                               const std::string& accel, int tp,
                                               const std::string& engine_name) {
  const ModelArch* m = catalog_.FindModel(model);
  if (m == nullptr) return Status(VARIANT_E_UNKNOWN_MODEL, "unknown model '" + model + "'");
  const Accelerator* a = catalog_.FindAccelerator(accel);
  if (a == nullptr)
    return Status(VARIANT_E_UNKNOWN_ACCELERATOR, "unknown accelerator '" + accel + "'");
  const std::string en = engine_name.empty() ? kDefaultEngine : engine_name;
  const Engine* e = catalog_.FindEngine(en);
  if (e == nullptr) return InvalidArgument("unknown engine '" + en + "'");
  auto key = std::make_tuple(model, accel, tp, en);
  auto it = steps_.find(key);
  if (it != steps_.end()) return static_cast<const StepModel*>(it->second.get());
  auto t = Tables(*a);
  if (!t.ok()) return t.status();
  const OpTables* comm = nullptr;
  if (e->allreduce == "nccl" && tp > 1) {
    auto nt = e->nccl_tables.find(accel);
    if (nt == e->nccl_tables.end())
      return Status(VARIANT_E_NO_DATA, "engine '" + en + "' has no NCCL table for '" + accel + "'");
    auto ct = comm_tables_.find(nt->second);
    if (ct == comm_tables_.end()) {
      auto loaded = OpTables::LoadAllReduceOnly(data_dir_ + "/perf/vidur/" + nt->second +
                                                "_nccl_allreduce.csv");
      if (!loaded.ok()) return loaded.status();
      ct = comm_tables_.emplace(nt->second, std::move(loaded.value())).first;
    }
    comm = ct->second.get();
  }
  auto s = StepModel::Create(*m, *a, *t.value(), tp, *e, comm);
  if (!s.ok()) return s.status();
  const StepModel* p = s.value().get();
  steps_[key] = std::move(s.value());
  return p;
}

void Context::ApplyCalibration(const std::string& model, const std::string& accel, int tp,
                               ReplicaConfig* cfg) const {
  // The offline profile (where one was loaded) replaces the a-priori scale; the online
  // correction multiplies on top of whichever is in force.
  if (const ProfileFit* f = profiles_->Find({model, accel, tp})) {
    cfg->prefill_factor = f->prefill_scale;
    cfg->prefill_add_ms = f->prefill_add_ms;
    cfg->decode_factor = f->decode_scale;
    cfg->decode_add_ms = f->decode_add_ms;
  }
  if (const Corrector::Entry* e = corrector_->Find({model, accel, tp})) {
    cfg->prefill_factor *= e->prefill.factor();
    cfg->decode_factor *= e->decode.factor();
  }
}

}  // namespace variant
