#!/bin/bash
# Multi-worker training under Slurm: one worker per node, MultiWorkerMirroredStrategy.
# Copy this file, edit the paths and the #SBATCH lines, then: sbatch train-multiworker-slurm.sh
#
# Every task gets TF_CONFIG with the job's nodes as the workers and its own index
# (SLURM_PROCID); worker 0 is the chief, and its run folder (runs/att-w0) is the result.
# Each worker writes its own run folder. --set batch_size is the GLOBAL batch.
#
# A worker that dies stops the others at their next collective op (an error, not a hang):
# requeue the job (#SBATCH --requeue, or resubmit it) with the same folders and --resume;
# the workers resume from the last checkpoint all of them committed (docs/scaling.md).
#
#SBATCH --job-name=semser-train
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-task=1
#SBATCH --time=12:00:00
#SBATCH --requeue

CORPUS=/shared/corpora/sewa      # edit
RUNS=/shared/runs                # edit
PORT=12345

WORKERS=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | sed "s/\$/:$PORT/" | paste -sd, -)

srun bash -c '
  export TF_CONFIG="{\"cluster\": {\"worker\": [\"$(echo '"$WORKERS"' | sed "s/,/\", \"/g")\"]}, \"task\": {\"type\": \"worker\", \"index\": $SLURM_PROCID}}"
  RUN='"$RUNS"'/att-w$SLURM_PROCID
  if [ -e "$RUN/run.json" ]; then RESUME=--resume; else RESUME=; fi
  exec semser train '"$CORPUS"' --out "$RUN" --strategy multiworker --set batch_size=100 $RESUME
'
