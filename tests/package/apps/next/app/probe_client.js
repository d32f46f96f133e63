"use client";
import { useEffect } from "react";
import { expose } from "../probe.js";

export default function Probe() {
  useEffect(expose, []);
  return null;
}
