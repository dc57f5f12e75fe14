import Foundation
import HAL
import HALLinux
import SystemCalls
import Testing

@Suite struct SystemWallClockTests {
    @Test func readsTheSameTimeAsTheSystemAndNamesItsSource() throws {
        let clock = SystemWallClock()
        let difference = abs(clock.sinceEpoch.seconds - Date().timeIntervalSince1970)
        #expect(difference < 5)
        let synchronisation = clock.synchronisation
        if synchronisation.synchronised {
            #expect(synchronisation.source.hasPrefix("kernel") || synchronisation.source.hasPrefix("systemd-timesyncd"))
        } else {
            #expect(synchronisation.source.contains(SystemWallClock.timesyncMarker))
        }
        #expect(synchronisation.description.hasPrefix(synchronisation.synchronised ? "synchronised (" : "unsynchronised ("))
    }

    #if os(Linux)
    /// adjtimex without changes needs no privilege and agrees with the wall clock's answer.
    @Test func theKernelsClockStateIsReadable() throws {
        let kernel = try POSIX.kernelClock()
        #expect(kernel.maximumError >= .zero)
        #expect(kernel.estimatedError >= .zero)
        if kernel.synchronised { #expect(SystemWallClock().synchronisation.synchronised) }
    }
    #endif
}
