/* Test-only shim for wine 8.0, which lacks bcryptprimitives.dll!ProcessPrng: Rust's std calls it at startup, so
 * without it every Rust .exe exits with code 53 under that wine. Placed beside the .exe by scripts/cross/check;
 * never shipped. Built with: x86_64-w64-mingw32-gcc -shared -o bcryptprimitives.dll processprng.c -ladvapi32 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length); /* RtlGenRandom, advapi32 */

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
	while (len > 0) {
		ULONG chunk = len > 0x10000000 ? 0x10000000 : (ULONG)len;
		if (!SystemFunction036(data, chunk))
			return FALSE;
		data += chunk;
		len -= chunk;
	}
	return TRUE;
}
