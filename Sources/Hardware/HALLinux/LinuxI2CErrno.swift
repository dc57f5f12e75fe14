#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import HAL

/// How an errno from an i2c-dev ioctl becomes an ``I2CError/Kind`` (after the
/// kernel's `Documentation/i2c/fault-codes.rst` and linux-embedded-hal).
///
/// | errno | kind | what it usually means |
/// |---|---|---|
/// | ENXIO, EREMOTEIO, ENODEV | `noAcknowledge(.address)` | nobody answered the address (ENODEV is what `i2c-stub` and some SMBus drivers return) |
/// | ETIMEDOUT | `timeout` | clock stretched too long, bus stuck low |
/// | EAGAIN | `arbitrationLost` | another controller won the bus |
/// | EIO, EBUSY, EINVAL, EPROTO | `bus` | electrical fault, adapter busy, a transfer the adapter rejected |
/// | EOPNOTSUPP | `unsupported` | the adapter cannot do this kind of transfer |
/// | anything else | `other` | |
///
/// Issue 4 maps ENODEV to an address NACK (the embedded-hal convention says data NACK): drivers such as
/// `i2c-stub` return ENODEV for an absent address, and a scan must treat that as "nobody there".
public enum LinuxI2CErrno {
    public static func kind(_ code: Int32) -> I2CError.Kind {
        switch code {
        case ENXIO, EREMOTEIO, ENODEV: .noAcknowledge(.address)
        case ETIMEDOUT: .timeout
        case EAGAIN: .arbitrationLost
        case EIO, EBUSY, EINVAL, EPROTO: .bus
        case EOPNOTSUPP: .unsupported
        default: .other
        }
    }

    /// A short hint for the message, when the errno has a usual cause worth naming.
    static func hint(_ code: Int32, operation: String) -> String? {
        switch code {
        case EBUSY where operation.hasPrefix("ioctl(I2C_SLAVE"):
            "a kernel driver has claimed this address (i2cdetect shows UU); unbind that driver or use it instead"
        case ENXIO, EREMOTEIO, ENODEV:
            "no chip answered: check the address, wiring, pull-ups and power"
        case ETIMEDOUT:
            "the bus is stuck or a chip stretches the clock too long; power-cycle the chip"
        default:
            nil
        }
    }
}
