import { test } from "node:test";
import assert from "node:assert/strict";
import { EmulatorConfigError, parseEmulatorConfig } from "../../../dev/servicebus-emulator";
import { parseIsoDuration } from "../../../dev/servicebus-emulator/config";

test("ISO 8601 durations as Service Bus writes them", () => {
  assert.equal(parseIsoDuration("PT1M"), 60_000);
  assert.equal(parseIsoDuration("PT0.5S"), 500);
  assert.equal(parseIsoDuration("P14D"), 14 * 86_400_000);
  assert.equal(parseIsoDuration("P1DT2H3M4S"), ((24 + 2) * 60 + 3) * 60_000 + 4000);
  for (const bad of ["1m", "PT", "P", "PTM", "60"]) assert.throws(() => parseIsoDuration(bad), /ISO 8601/);
});

test("the official emulator's Config.json shape is accepted with its defaults", () => {
  const config = parseEmulatorConfig({
    UserConfig: {
      Namespaces: [
        {
          Name: "sbemulatorns",
          Queues: [
            {
              Name: "queue.1",
              Properties: {
                DeadLetteringOnMessageExpiration: false,
                DefaultMessageTimeToLive: "PT1H",
                DuplicateDetectionHistoryTimeWindow: "PT20S",
                ForwardDeadLetteredMessagesTo: "",
                ForwardTo: "",
                LockDuration: "PT1M",
                MaxDeliveryCount: 3,
                RequiresDuplicateDetection: false,
                RequiresSession: false,
              },
            },
          ],
          Topics: [],
        },
      ],
      Logging: { Type: "File" },
    },
  });
  const q = config.UserConfig.Namespaces[0]!.Queues[0]!;
  assert.equal(q.Properties.LockDuration, 60_000);
  assert.equal(q.Properties.DefaultMessageTimeToLive, 3_600_000);
  assert.equal(q.Properties.MaxDeliveryCount, 3);
});

test("bad configs name the field at fault", () => {
  const cases: [unknown, RegExp][] = [
    [{}, /UserConfig/],
    [{ UserConfig: { Namespaces: [] } }, /Namespaces/],
    [
      {
        UserConfig: {
          Namespaces: [{ Name: "n", Queues: [{ Name: "q", Properties: { LockDuration: "1 minute" } }] }],
        },
      },
      /LockDuration/,
    ],
    [{ UserConfig: { Namespaces: [{ Name: "n", Queues: [{ Name: "bad name" }] }] } }, /Name/],
    [
      { UserConfig: { Namespaces: [{ Name: "n", Queues: [{ Name: "q" }, { Name: "Q" }] }] } },
      /duplicate queue/,
    ],
    [
      { UserConfig: { Namespaces: [{ Name: "n", Entra: { DirectoryId: "x" } }] } },
      /IssuerPublicKeys or Jwks/,
    ],
    [{ UserConfig: { Namespaces: [{ Name: "n", DisableLocalAuth: true }] } }, /DisableLocalAuth/],
    [
      {
        UserConfig: {
          Namespaces: [{ Name: "n", SharedAccessPolicies: [{ Name: "p", Key: "k", Rights: ["Admin"] }] }],
        },
      },
      /Rights/,
    ],
    [{ UserConfig: { Namespaces: [{ Name: "n", Port: 70000 }] } }, /Port/],
  ];
  for (const [input, pattern] of cases) {
    assert.throws(
      () => parseEmulatorConfig(input),
      (e: unknown) => e instanceof EmulatorConfigError && pattern.test(e.message),
      JSON.stringify(input),
    );
  }
});
