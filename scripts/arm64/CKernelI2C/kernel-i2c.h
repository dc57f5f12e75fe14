// The kernel's i2c-dev interface as Swift's importer sees it on the machine it compiles for, so
// the arm64 probe can compare Swift's view of these structs and request numbers with gcc's.
// Only the probe imports this; FieldAgent reaches i2c-dev through CLinuxI2C alone.
#include <linux/types.h>
#include <linux/i2c.h>
#include <linux/i2c-dev.h>
