import { expose } from "./probe.js";

expose();
