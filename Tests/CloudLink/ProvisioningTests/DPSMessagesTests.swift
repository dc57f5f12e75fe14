import JSON
import Provisioning
import Testing

/// The DPS MQTT vocabulary, checked byte for byte against the contract's examples.
@Suite struct DPSMessagesTests {
    @Test func userNameAndClientIDWithoutAndWithCSR() {
        let plain = DPSRegistration(idScope: "0ne00LOCAL1", registrationID: "dev1")
        #expect(plain.clientID == "dev1")
        #expect(plain.userName == "0ne00LOCAL1/registrations/dev1/api-version=2019-03-31")
        #expect(!plain.userName.contains("?"))
        let issuing = DPSRegistration(idScope: "0ne00LOCAL1", registrationID: "dev1", csr: "MIIB")
        #expect(issuing.userName == "0ne00LOCAL1/registrations/dev1/api-version=2025-07-01-preview")
    }

    @Test func topics() {
        #expect(DPSRegistration.responseFilter == "$dps/registrations/res/#")
        #expect(DPSRegistration.registerTopic(rid: 1) == "$dps/registrations/PUT/iotdps-register/?$rid=1")
        #expect(DPSRegistration.pollTopic(rid: 2, operationID: "4.abc.d123")
            == "$dps/registrations/GET/iotdps-get-operationstatus/?$rid=2&operationId=4.abc.d123")
    }

    @Test func registerBodyIsExactJSON() {
        #expect(String(decoding: DPSRegistration(idScope: "s", registrationID: "dev1").registerBody, as: UTF8.self)
            == #"{"registrationId":"dev1"}"#)
        let full = DPSRegistration(idScope: "s", registrationID: "dev1", payload: .object(["site": .string("north")]),
                                   csr: "MIIBcDCB9wIBADAPMQ0wCwYDVQQDDARkZXYx")
        #expect(String(decoding: full.registerBody, as: UTF8.self)
            == #"{"registrationId":"dev1","payload":{"site":"north"},"csr":"MIIBcDCB9wIBADAPMQ0wCwYDVQQDDARkZXYx"}"#)
    }

    @Test func registrationIDRules() throws {
        try DPSRegistration(idScope: "0ne00LOCAL1", registrationID: "Dev-1.a_b:c").validate()
        try DPSRegistration(idScope: "0ne00LOCAL1", registrationID: String(repeating: "a", count: 128)).validate()
        for bad in ["", "dev 1", "dev/1", "dév", String(repeating: "a", count: 129)] {
            #expect(throws: ProvisioningError.invalidRegistrationID(bad)) {
                try DPSRegistration(idScope: "0ne00LOCAL1", registrationID: bad).validate()
            }
        }
        #expect(throws: ProvisioningError.invalidIDScope("")) {
            try DPSRegistration(idScope: "", registrationID: "dev1").validate()
        }
    }

    @Test func responseTopics() throws {
        #expect(try DPSResponseTopic(parsing: "$dps/registrations/res/202/?$rid=1&retry-after=3")
            == DPSResponseTopic(status: 202, rid: "1", retryAfter: 3))
        #expect(try DPSResponseTopic(parsing: "$dps/registrations/res/200/?$rid=7")
            == DPSResponseTopic(status: 200, rid: "7", retryAfter: nil))
        #expect(try DPSResponseTopic(parsing: "$dps/registrations/res/401/?$rid=1")
            == DPSResponseTopic(status: 401, rid: "1"))
        for bad in ["$dps/registrations/res/abc/?$rid=1", "$dps/registrations/res/200/?x=1", "devices/d/messages",
                    "$dps/registrations/res/200"] {
            #expect(throws: ProvisioningError.unexpectedTopic(bad)) { try DPSResponseTopic(parsing: bad) }
        }
    }

    @Test func assigningBody() throws {
        let body = try DPSResponseBody(parsing: Array(#"{"operationId":"4.0ab.1","status":"assigning"}"#.utf8))
        #expect(body == DPSResponseBody(operationID: "4.0ab.1", status: "assigning"))
    }

    @Test func assignedBodyFromTheContract() throws {
        let text = #"""
        {"operationId":"op1","status":"assigned","registrationState":{"x509":{},"registrationId":"dev1",
          "createdDateTimeUtc":"2026-12-05T07:00:00Z","assignedHub":"localhost","deviceId":"dev1","status":"assigned",
          "substatus":"initialAssignment","lastUpdatedDateTimeUtc":"2026-12-05T07:00:01Z","etag":"e1",
          "issuedCertificateChain":["TEFG","Q0E="]}}
        """#
        let body = try DPSResponseBody(parsing: Array(text.utf8))
        #expect(body.operationID == "op1")
        #expect(body.status == "assigned")
        #expect(body.registrationState == DPSRegistrationState(
            registrationID: "dev1", assignedHub: "localhost", deviceID: "dev1", status: "assigned",
            substatus: "initialAssignment", issuedCertificateChain: ["TEFG", "Q0E="],
            createdDateTimeUtc: "2026-12-05T07:00:00Z", lastUpdatedDateTimeUtc: "2026-12-05T07:00:01Z"))
    }

    @Test func errorBody() throws {
        let body = try DPSResponseBody(parsing: Array(
            #"{"errorCode":401002,"trackingId":"t1","message":"no enrollment matches","timestampUtc":"x"}"#.utf8))
        #expect(body == DPSResponseBody(errorCode: 401002, message: "no enrollment matches", trackingID: "t1"))
        #expect(try DPSResponseBody(parsing: []) == DPSResponseBody())
        #expect(throws: ProvisioningError.self) { try DPSResponseBody(parsing: Array("[1]".utf8)) }
        #expect(throws: ProvisioningError.self) { try DPSResponseBody(parsing: Array("{".utf8)) }
    }

    @Test func refusalNamesProblemAndFix() {
        let error = ProvisioningError.refused(registrationID: "dev-1", httpStatus: 401, errorCode: 401002,
                                              message: "no enrollment matches")
        #expect(error.description == "DPS refused registration dev-1: 401002 no enrollment matches; "
            + "add an enrollment group for the CA that issued the device certificate (or an individual enrollment for this certificate)")
        #expect(!error.isRetriable)
        #expect(ProvisioningError.connection("reset").isRetriable)
    }
}
