/* The blk-frontend guest's own check kind (frontend-common/checks.c has the rest): a blkif
 * response's status and echoed operation as one check. */
#include "blkfront.h"

const char fe_name[] = "blk-frontend";

void check_rsp(const struct blk_rsp *rsp, int16_t status, uint8_t op, const char *fmt, ...)
{
    char what[120], detail[80];
    va_list ap;
    va_start(ap, fmt);
    rt_vformat(what, sizeof(what), fmt, ap);
    va_end(ap);
    rt_snprintf(detail, sizeof(detail), ": got status %d op %u, want status %d op %u", rsp->status,
                rsp->operation, status, op);
    check_report(rsp->status == status && rsp->operation == op, what, detail);
}
