import Foundation
@testable import Outbox
import TestSupport
import Testing

@Suite struct StateDirectoryTests {
    @Test func aPathIsKeptAbsoluteWithoutItsTrailingSlashes() throws {
        #expect(try StateDirectory("/srv/agent//").path == "/srv/agent")
        #expect(try StateDirectory("/").path == "/")
        #expect(try StateDirectory("/srv/agent").file("outbox.db") == "/srv/agent/outbox.db")
    }

    @Test func emptyAndRelativePathsAreRefusedSayingWhy() {
        #expect {
            _ = try StateDirectory("")
        } throws: { error in
            let error = error as? OutboxError
            return error?.code == .invalidStateDirectory && error?.reason.contains("the state directory is empty") == true
        }
        #expect {
            _ = try StateDirectory("state")
        } throws: { error in
            (error as? OutboxError)?.reason.contains("the state directory \"state\" is a relative path") == true
        }
    }

    @Test func prepareCreatesMissingParentsPrivatelyAndExplainsFailures() throws {
        let folder = try TemporaryDirectory(prefix: "outbox-test")
        let nested = try StateDirectory(folder.path + "/a/b/c")
        try nested.prepare()
        let attributes = try FileManager.default.attributesOfItem(atPath: nested.path)
        #expect((attributes[.posixPermissions] as? Int) == 0o700)
        try nested.prepare()   // existing: fine

        try Data().write(to: URL(fileURLWithPath: folder.path + "/file"))
        let blocked = try StateDirectory(folder.path + "/file/state")
        #expect {
            try blocked.prepare()
        } throws: { error in
            let error = error as? OutboxError
            return error?.code == .stateDirectoryUnusable && error?.reason.contains("mkdir") == true
                && error?.reason.contains("Not a directory") == true && error?.reason.contains("choose another state directory") == true
        }
    }
}
