export * from "./targets";
