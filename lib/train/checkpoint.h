// A run's checkpoints, the whole interface: the layout on disk (checkpoint_layout.h), frozen
// weights by reference (frozen_references.h), the atomic multi-rank write (checkpoint_writer.h)
// and the read side (checkpoint_reader.h). Include the one part a file needs where it can.
#pragma once
#include "train/checkpoint_layout.h"
#include "train/checkpoint_reader.h"
#include "train/checkpoint_writer.h"
#include "train/frozen_references.h"
