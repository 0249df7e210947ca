/** All benchmark scenarios, in report order. */
import type { ScenarioName } from '../types.ts';
import { bridgeScenario } from './bridge.ts';
import { generatorScenario } from './generator.ts';
import { macdemuxJsScenario, macdemuxScenario, macdemuxTapScenario, macdemuxXdpScenario } from './macdemux.ts';
import { macvlanScenario } from './macvlan.ts';
import { ovsScenario } from './ovs.ts';
import type { Scenario } from './scenario.ts';

export type { Scenario, BuildContext } from './scenario.ts';

export const SCENARIOS: Record<ScenarioName, Scenario> = {
  generator: generatorScenario,
  bridge: bridgeScenario,
  macvlan: macvlanScenario,
  ovs: ovsScenario,
  macdemux: macdemuxScenario,
  'macdemux-xdp': macdemuxXdpScenario,
  'macdemux-tap': macdemuxTapScenario,
  'macdemux-js': macdemuxJsScenario,
};
