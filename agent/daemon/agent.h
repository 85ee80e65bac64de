// The cluster-mode agent: one thread, one event loop over two sockets.
//
//   publishers ──connect──▶ XSUB (cfg.xsub)  ─┐  the loop validates, ingests and
//                                              ├▶ forwards valid messages, decides,
//   subscribers ◀─connect── XPUB (cfg.xpub)  ◀┘  and publishes decision/plan/guidance
//
// The loop sleeps in zmq::poll until a message arrives or the nearest deadline
// (debounced re-decision, maximum staleness, heartbeat, stale-source check) is due.
// Decisions come from libvariant (variant_solve) or, per model, a policy plugin; the
// agent only assembles inputs and publishes outputs.
//
// Thread-safety: an Agent is used by the thread that calls Run(). Stop() may be
// called from any thread or a signal handler.
#ifndef VARIANT_AGENT_DAEMON_AGENT_H_
#define VARIANT_AGENT_DAEMON_AGENT_H_

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>
#include <vector>
#include <zmq.hpp>

#include "bus/protocol.h"
#include "config.h"
#include "exporter.h"
#include "policy_host.h"
#include "variant_api.h"

namespace agent {

class Agent {
 public:
  // api may be null when no model uses the optimizer.
  Agent(Config cfg, std::unique_ptr<VariantApi> api, zmq::context_t* zctx);
  ~Agent();
  // Binds the sockets, starts the exporter, loads plugins, restores the state file.
  bool Init(std::string* err);
  // Runs until *stop becomes true. Returns the process exit code.
  int Run(const std::atomic<bool>* stop);

 private:
  struct Entry;
  struct Source;
  struct Model;
  struct Cached {
    std::string topic, header, body;
  };

  void OnMessage(zmq::message_t* frames, size_t n, size_t bytes);
  bool IngestMetrics(int src, const bus::Metrics& m, bus::DecodeError* err);
  bool IngestInventory(const bus::Inventory& inv, bus::DecodeError* err);
  void OnSubscription(const zmq::message_t& msg);
  void Reject(const std::string& source, bus::Reject r, const std::string& detail);
  int SourceIndex(const std::string& name);
  void CheckSequence(Source* s, uint64_t seq);
  void CheckStale();
  void MarkDirty(Model* m);
  double ModelRate(const Model& m) const;
  // full: every plugin model (the max-staleness timer); else only those whose
  // demand or inventory moved. The optimizer always sees the whole problem.
  void Decide(bool full);
  void PublishDecision();
  void SubmitSolve();
  void SolverLoop();
  void OnSolveResult();
  std::string DemandJson() const;
  std::string CurrentJson() const;
  bool DecidePlugin(Model* m, std::string* err);
  void Publish(std::string_view topic, const nlohmann::json& body);
  void PublishRaw(std::string_view topic, std::string body);
  void RebuildPluginFragments(Model* m);
  void SendCached(const Cached& c);
  void Heartbeat();
  void SaveState();  // encodes now; the writer thread writes the file
  void WriterLoop();
  void WriteFileAtomically(const std::string& data) const;
  void RestoreState();
  void UpdateExporter(const nlohmann::json& decision, const nlohmann::json& guidance);
  // Takes variant_solve's answer apart into what the agent publishes and exports, so
  // only the encoded pieces (and the answer's text, for the state file) stay in memory.
  void AdoptOptimizer(const nlohmann::json& d);
  std::string AcceleratorsJson() const;
  bool StartZap(std::string* err);
  void ZapLoop();
  bool AllowedPublisher(const std::string& z85);

  Config cfg_;
  std::unique_ptr<VariantApi> api_;
  zmq::context_t* zctx_;
  std::unique_ptr<zmq::socket_t> xsub_, xpub_;
  std::unique_ptr<Exporter> exporter_;
  std::vector<std::unique_ptr<policy::PolicyPlugin>> plugins_;

  std::vector<Model> models_;
  std::unordered_map<std::string, int> model_index_;
  std::vector<std::string> classes_;
  std::unordered_map<std::string, int> class_index_;
  std::vector<Source> sources_;
  std::unordered_map<std::string, int> source_index_;
  std::unordered_map<uint64_t, Entry> entries_;
  // current replicas per model/variant from inventory: (ready, starting)
  std::unordered_map<std::string, std::pair<int, int>> inventory_;
  bool have_inventory_ = false;

  // accelerator name -> count from inventory (what exists in the cluster)
  std::unordered_map<std::string, int> inventory_accel_;
  nlohmann::json accelerators_;  // the problem's accelerators (small), for the caps

  // Last good outputs. Of variant_solve's answer the agent keeps its text (the state
  // file and, without inventory, the next call's `current`) and, encoded once, the
  // parts it publishes; not the parsed document (tens of MB at 1,000 x 40).
  bool have_optimizer_ = false;
  std::string optimizer_text_;       // variant_solve's last good answer, as returned
  std::string optimizer_state_;      // its `state` object as JSON text ("" none)
  std::string optimizer_unserved_mp_, optimizer_plan_mp_, optimizer_guidance_mp_;
  uint32_t optimizer_plan_n_ = 0;
  // lower_bound, gap, solve_ms, baseline_cost_per_hour: key -> encoded value
  std::vector<std::pair<std::string, std::string>> optimizer_extra_mp_;
  nlohmann::json optimizer_status_;  // {"status": ..., "error": ...}
  std::string optimizer_alloc_mp_;   // its allocation entries, encoded
  uint32_t optimizer_alloc_n_ = 0;
  double optimizer_cost_ = 0;
  uint64_t decision_id_ = 0;
  std::unordered_map<std::string, Cached> cache_;  // last value per published topic

  uint64_t seq_ = 0;
  double start_mono_ = 0;
  double pending_solve_ = -1;  // monotonic deadline of a debounced decision, -1 none
  double last_decide_ = -1;
  double state_due_ = -1;  // monotonic deadline of a deferred state-file write
  uint64_t received_since_trim_ = 0;  // messages since the loop last gave memory back
  double last_publish_ = 0;
  double next_stale_check_ = 0;
  bool any_optimizer_ = false;
  // Solver thread: owns api_ after Init; one job at a time.
  struct SolveResult {
    int rc = 0;
    std::string out, err;
    double seconds = 0;
    std::string problem;  // the job's problem text, handed back (problem_buf_)
  };
  std::thread solver_;
  std::mutex solver_mu_;
  std::condition_variable solver_cv_;
  std::string solver_job_problem_, solver_job_current_;
  // Fresh per-variant TTFT/ITL for the online correction, fed before the job's solve.
  std::vector<VariantApi::Observation> solver_job_obs_;
  bool solver_has_job_ = false, solver_stop_ = false, solver_has_result_ = false;
  SolveResult solver_result_;
  std::string solver_endpoint_;
  std::unique_ptr<zmq::socket_t> solver_rx_;
  // The problem text of the last solve, whose first problem_head_ bytes are the
  // configured part (cfg_.problem_json, moved here at the first solve; npos before it).
  // Loop thread only, except while a solve runs: then the solver thread holds it.
  std::string problem_buf_;
  size_t problem_head_ = std::string::npos;
  bool solver_busy_ = false;   // loop thread only
  bool solver_again_ = false;  // loop thread only: re-solve when the running one returns
  double last_solve_error_log_ = -1e9;
  // State-file writer: the newest encoded snapshot waits here for the writer thread.
  std::thread writer_;
  std::mutex writer_mu_;
  std::condition_variable writer_cv_;
  std::string writer_pending_;
  bool writer_has_ = false, writer_stop_ = false;
  uint64_t writer_done_ = 0;
  int stale_sources_ = 0;
  // ZAP handler (CURVE): its own thread on inproc://zeromq.zap.01.
  std::thread zap_;
  std::atomic<bool> zap_stop_{false};
  std::unordered_map<std::string, bool> zap_logged_;  // zap thread only
};

double MonoNow();
double WallNow();

}  // namespace agent

#endif  // VARIANT_AGENT_DAEMON_AGENT_H_
