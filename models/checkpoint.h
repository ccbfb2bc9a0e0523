// Checkpoints: one safetensors file that holds everything needed to rebuild
// and evaluate a network, or to resume its training.
//
//   tensors   the model's parameters and running statistics (PyTorch names),
//             and the optimizer's buffers under "optim." (if saved)
//   metadata  "format"       "taper-checkpoint-1"
//             "model_json"   the model file's text (width 1)
//             "model_source" the path it was read from
//             "wbits", "stage_bits", "abits", "width"
//             "dropout_rng"  JSON list of the dropout streams' states
//             anything else the caller adds (training state, data settings)
//
// Writing goes through save_safetensors (temporary file, then rename), so an
// interrupted save never destroys the previous checkpoint.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "engine/optimizer.h"
#include "engine/safetensors.h"
#include "models/model.h"

namespace taper {

inline constexpr const char* kCheckpointFormat = "taper-checkpoint-1";
inline constexpr const char* kOptimizerPrefix = "optim.";

// Fills `st` with the model (and optimizer, if given) and the metadata above;
// `extra` adds or overrides metadata.
void build_checkpoint(SafeTensors& st, const Model& model, const std::string& wbits, double width,
                      const Optimizer* optimizer, const std::map<std::string, std::string>& extra);

// Reads a checkpoint's metadata value; Error naming the file if it is missing.
const std::string& checkpoint_meta(const SafeTensors& st, const std::string& key);

// Rebuilds the network a checkpoint describes and loads its tensors (not the
// optimizer's). Error naming the file for anything that is not a complete,
// consistent taper checkpoint.
std::unique_ptr<Model> model_from_checkpoint(const SafeTensors& st);

}  // namespace taper
