// SPDX-License-Identifier: GPL-2.0
/*
 * A test-only I2C adapter with master_xfer, for scripts/kernel-hil.sh.
 *
 * Why: i2c-stub is SMBus-only, so it cannot exercise LinuxI2CBus's main path (one I2C_RDWR
 * ioctl per transaction, as on a Raspberry Pi). This adapter answers plain I2C messages for one
 * target holding a 256-byte register file with an auto-incrementing pointer (the first byte of a
 * write sets the pointer, further bytes are stored, reads return bytes from the pointer on), and
 * answers every other address with -ENXIO like a real controller that saw no ACK.
 * It counts master_xfer calls and messages (read-only module parameters) so the test can prove
 * that a transaction reached the adapter as a single combined transfer.
 */
#include <linux/i2c.h>
#include <linux/module.h>

static unsigned short target = 0x44;
module_param(target, ushort, 0444);
MODULE_PARM_DESC(target, "7-bit address of the simulated register file");

static unsigned int transfers;
module_param(transfers, uint, 0444);
MODULE_PARM_DESC(transfers, "master_xfer calls so far");

static unsigned int messages;
module_param(messages, uint, 0444);
MODULE_PARM_DESC(messages, "messages in those calls");

static u8 registers[256];
static u8 pointer;

static int hil_xfer(struct i2c_adapter *adapter, struct i2c_msg *msgs, int num)
{
	int i, j;

	transfers++;
	messages += num;
	for (i = 0; i < num; i++) {
		struct i2c_msg *msg = &msgs[i];

		if (msg->addr != target)
			return -ENXIO;
		if (msg->flags & I2C_M_RD) {
			for (j = 0; j < msg->len; j++)
				msg->buf[j] = registers[pointer++];
		} else if (msg->len > 0) {
			pointer = msg->buf[0];
			for (j = 1; j < msg->len; j++)
				registers[pointer++] = msg->buf[j];
		}
	}
	return num;
}

static u32 hil_functionality(struct i2c_adapter *adapter)
{
	return I2C_FUNC_I2C | I2C_FUNC_SMBUS_EMUL;
}

static const struct i2c_algorithm hil_algorithm = {
	.master_xfer = hil_xfer,
	.functionality = hil_functionality,
};

static struct i2c_adapter hil_adapter = {
	.owner = THIS_MODULE,
	.algo = &hil_algorithm,
	.name = "fieldagent HIL I2C adapter",
};

static int __init hil_init(void)
{
	return i2c_add_adapter(&hil_adapter);
}

static void __exit hil_exit(void)
{
	i2c_del_adapter(&hil_adapter);
}

module_init(hil_init);
module_exit(hil_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("fieldagent kernel-HIL I2C adapter with master_xfer (test only)");
