#include <windows.h>
#include <ntsecapi.h>
/* ProcessPrng: what Rust's std asks Windows for random bytes (HashMap seeds); Wine 8 lacks it. */
__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    while (len > 0) {
        ULONG n = len > 0x7fffffff ? 0x7fffffff : (ULONG)len;
        if (!RtlGenRandom(data, n)) return FALSE;
        data += n; len -= n;
    }
    return TRUE;
}
