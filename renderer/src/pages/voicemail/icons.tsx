/** The voicemail page draws with the console's icon set; these names keep its imports short. */
export { Icon as VmIcon, type IconName as VmIconName } from '../../components/icons.js';
