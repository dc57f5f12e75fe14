// CGPIOD: libgpiod 1.6 (Debian bookworm `libgpiod-dev`, pkg-config `libgpiod`) for HALLinux.
// libgpiod v1's API has no macros, variadics or inline functions that Swift needs (the request
// flags are enum constants), so this target is the header alone and has no C shim functions.
#include <gpiod.h>
