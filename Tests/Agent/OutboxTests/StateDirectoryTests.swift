import Foundation
@testable import Outbox
import TestSupport
import Testing

@Suite struct StateDirectoryTests {
    @Test func theFlagWinsOverTheEnvironmentWhichWinsOverTheDefault() throws {
        let environment = ["FIELDAGENT_STATE_DIR": "/srv/agent/"]
        #expect(try StateDirectory.resolve(flag: "/data/fa", environment: environment)
            == StateDirectory(path: "/data/fa", source: .flag))
        #expect(try StateDirectory.resolve(flag: nil, environment: environment)
            == StateDirectory(path: "/srv/agent", source: .environment))
        #expect(try StateDirectory.resolve(flag: nil, environment: [:])
            == StateDirectory(path: "/var/lib/fieldagent", source: .default))
        #expect(StateDirectory(path: "/srv/agent", source: .flag).file("outbox.db") == "/srv/agent/outbox.db")
    }

    @Test func emptyAndRelativePathsAreRefusedNamingTheSetting() {
        #expect {
            _ = try StateDirectory.resolve(flag: nil, environment: ["FIELDAGENT_STATE_DIR": ""])
        } throws: { error in
            let error = error as? OutboxError
            return error?.code == .invalidStateDirectory && error?.reason.contains("FIELDAGENT_STATE_DIR is empty") == true
        }
        #expect {
            _ = try StateDirectory.resolve(flag: "state", environment: [:])
        } throws: { error in
            (error as? OutboxError)?.reason.contains("--state-dir is \"state\", a relative path") == true
        }
    }

    @Test func prepareCreatesMissingParentsPrivatelyAndExplainsFailures() throws {
        let folder = try TemporaryDirectory(prefix: "outbox-test")
        let nested = StateDirectory(path: folder.path + "/a/b/c", source: .flag)
        try nested.prepare()
        let attributes = try FileManager.default.attributesOfItem(atPath: nested.path)
        #expect((attributes[.posixPermissions] as? Int) == 0o700)
        try nested.prepare()   // existing: fine

        try Data().write(to: URL(fileURLWithPath: folder.path + "/file"))
        let blocked = StateDirectory(path: folder.path + "/file/state", source: .flag)
        #expect {
            try blocked.prepare()
        } throws: { error in
            let error = error as? OutboxError
            return error?.code == .stateDirectoryUnusable && error?.reason.contains("mkdir") == true
                && error?.reason.contains("Not a directory") == true && error?.reason.contains("--state-dir") == true
        }
    }
}
