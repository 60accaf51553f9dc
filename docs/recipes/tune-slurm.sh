#!/bin/bash
# A distributed hyperparameter search under Slurm: keras-tuner's chief and workers.
# Copy this file, edit the paths and the #SBATCH lines, then: sbatch tune-slurm.sh
#
# One job of N+1 tasks: task 0 (SLURM_PROCID 0) is the chief, which serves the oracle and
# trains nothing; tasks 1..N are workers. The chief's address is the first node of the
# job. Every task must see the same OUT folder and CORPUS (a shared file system).
# keras-tuner's roles are its documented variables KERASTUNER_TUNER_ID,
# KERASTUNER_ORACLE_IP and KERASTUNER_ORACLE_PORT; `semser tune` sets them for its own
# process from --distributed/--oracle/--tuner-id, which this script fills from them.
#
# A worker that dies (node failure, preemption) is noticed by the chief after
# --worker-timeout seconds without a heartbeat; its trial goes to the next free worker.
# Requeue the job (sbatch --requeue, or resubmit) with the same OUT to resume the search.
#
#SBATCH --job-name=semser-tune
#SBATCH --ntasks=5               # 1 chief + 4 workers
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-task=1        # the chief does not need one; drop it if your site allows
#SBATCH --time=24:00:00

CORPUS=/shared/corpora/sewa      # edit
OUT=/shared/tune_out             # edit: on a file system every node mounts
PORT=8000
SEARCH_ARGS=(--max-trials 40 --epochs 15 --cache-dir /shared/cache)   # the same for every task

CHIEF_HOST=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)

srun --kill-on-bad-exit=0 bash -c '
  export KERASTUNER_ORACLE_IP='"$CHIEF_HOST"' KERASTUNER_ORACLE_PORT='"$PORT"'
  if [ "$SLURM_PROCID" = 0 ]; then
    export KERASTUNER_TUNER_ID=chief
    exec semser tune '"$CORPUS"' --out '"$OUT"' '"${SEARCH_ARGS[*]}"' \
      --distributed chief --oracle "0.0.0.0:$KERASTUNER_ORACLE_PORT" --worker-timeout 600
  else
    # a stable id per task: a requeued job gives each worker back its unfinished trial
    export KERASTUNER_TUNER_ID=worker-$SLURM_PROCID
    exec semser tune '"$CORPUS"' --out '"$OUT"' '"${SEARCH_ARGS[*]}"' \
      --distributed worker --oracle "$KERASTUNER_ORACLE_IP:$KERASTUNER_ORACLE_PORT" \
      --tuner-id "$KERASTUNER_TUNER_ID" --connect-timeout 300 --heartbeat 10
  fi
'
