// variant_ctx's C++ side: owns the catalog, the measured operator tables (loaded
// lazily per accelerator), cached step models, online corrections and offline
// profiles. One thread at a time (see variant.h, "Threads").
#ifndef VARIANT_SRC_CONTEXT_H_
#define VARIANT_SRC_CONTEXT_H_

#include <map>
#include <memory>
#include <string>
#include <tuple>

#include "catalog.h"
#include "status.h"

namespace variant {

class OpTables;
class StepModel;
class Corrector;
class ProfileSet;
struct ReplicaConfig;

// Where the run-time data lives: an explicit directory, else $VARIANT_DATA_DIR, else
// the directory compiled in (the source tree's data/).
std::string ResolveDataDir(const char* explicit_dir);

class Context {
 public:
  static Result<std::unique_ptr<Context>> Create(const std::string& data_dir);
  ~Context();

  Catalog& catalog() { return catalog_; }
  const std::string& data_dir() const { return data_dir_; }

  // The measured tables of an accelerator (by its `tables` prefix), loaded on first use.
  Result<const OpTables*> Tables(const Accelerator& acc);
  // The step (iteration-time) model of (model, accelerator, tp), cached.
  // engine "" = kDefaultEngine.
  Result<const StepModel*> GetStepModel(const std::string& model, const std::string& accel,
                                        int tp, const std::string& engine = "");

  // Applies the online correction and any offline profile of (model, accel, tp) to a
  // replica configuration (prefill_factor, decode_factor).
  void ApplyCalibration(const std::string& model, const std::string& accel, int tp,
                        ReplicaConfig* cfg) const;

  Corrector& corrector() { return *corrector_; }
  ProfileSet& profiles() { return *profiles_; }

 private:
  Context() = default;
  std::string data_dir_;
  Catalog catalog_;
  std::map<std::string, std::unique_ptr<OpTables>> tables_;
  std::map<std::string, std::unique_ptr<OpTables>> comm_tables_;  // NCCL, by prefix
  std::map<std::tuple<std::string, std::string, int, std::string>, std::unique_ptr<StepModel>>
      steps_;
  std::unique_ptr<Corrector> corrector_;
  std::unique_ptr<ProfileSet> profiles_;
};

}  // namespace variant

#endif  // VARIANT_SRC_CONTEXT_H_
