// SIGINT / SIGTERM (cluster preemption) ask the run to stop: the trainer finishes its step, saves
// a checkpoint and exits cleanly. A second signal still stops it at once.
#pragma once

namespace vrwkv::train {

void install_stop_handlers();
bool stop_requested();
int stop_signal();  // the signal that asked, or 0

}  // namespace vrwkv::train
