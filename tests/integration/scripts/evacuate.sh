#!/bin/sh
# Move every running partition of one managed system to another, through the HMC's SSH
# door, the way HMC administrators script it.
#
#   HMC_PASSWORD=... evacuate.sh HMC SOURCE TARGET
#
# Exits 0 when every running partition moved, 1 when one did not (the others are still
# tried), 2 when the partitions could not be listed.
HMC=$1
SRC=$2
DST=$3
SSH="sshpass -p $HMC_PASSWORD ssh -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR hscroot@$HMC"

LPARS=$($SSH lssyscfg -r lpar -m "$SRC" -F name,state)
if [ $? -ne 0 ]; then
    echo "cannot list the partitions of $SRC" >&2
    exit 2
fi

RC=0
for LINE in $LPARS; do
    NAME=$(echo "$LINE" | cut -d, -f1)
    STATE=$(echo "$LINE" | cut -d, -f2)
    if [ "$STATE" != "Running" ]; then
        continue
    fi
    echo "migrating $NAME from $SRC to $DST"
    $SSH "migrlpar -o m -m $SRC -t $DST -p $NAME"
    if [ $? -ne 0 ]; then
        echo "migration of $NAME failed" >&2
        RC=1
    fi
done
exit $RC
