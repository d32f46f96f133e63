// A server component: importing the package here runs it in Node while the
// page is prerendered, where it must not touch window, navigator or Worker.
import { WebResnetError } from "webresnet";
import Probe from "./probe_client";

export default function Page() {
  return (
    <main>
      <p id="ssr">{typeof WebResnetError}</p>
      <Probe />
    </main>
  );
}
